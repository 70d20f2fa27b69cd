using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Memory;

/// <summary>
/// The feature maps of a dense memory's frames in one buffer, a slot per frame, packed at
/// its front: the decoder reads the whole memory where it lies, as one tensor, instead of
/// a copy made for every run (75 MB for six 960x540 frames). A frame that replaces an
/// evicted one is written into its slot; removing a slot moves the last one into its place.
/// </summary>
internal sealed class FeatureSlab(HostMemory memory, int slotSize, int initialSlots) : IDisposable
{
    private HostTensor? _buffer;

    /// <summary>Floats per slot: one frame's features.</summary>
    public int SlotSize => slotSize;

    /// <summary>Slots in use: 0 to Count - 1.</summary>
    public int Count { get; private set; }

    /// <summary>Slots the buffer has room for.</summary>
    public int Capacity => _buffer is null ? 0 : _buffer.Length / slotSize;

    public long ByteSize => (long)Capacity * slotSize * sizeof(float);

    public Span<float> this[int slot]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)Count, nameof(slot));
            return _buffer!.Span.Slice(slot * slotSize, slotSize);
        }
    }

    /// <summary>Stores <paramref name="features"/> in a new last slot, growing the buffer when full; returns the slot.</summary>
    public int Add(ReadOnlySpan<float> features)
    {
        CheckLength(features);
        if (Count == Capacity)
            Grow(Math.Max(initialSlots, Count + 1));
        Count++;
        features.CopyTo(this[Count - 1]);
        return Count - 1;
    }

    /// <summary>Replaces the features in <paramref name="slot"/>.</summary>
    public void Overwrite(int slot, ReadOnlySpan<float> features)
    {
        CheckLength(features);
        features.CopyTo(this[slot]);
    }

    /// <summary>
    /// Frees <paramref name="slot"/> by moving the last slot's features into it; the
    /// caller re-points whatever owned the last slot (unless it was this one).
    /// </summary>
    public void RemoveAt(int slot)
    {
        var last = Count - 1;
        if (slot != last)
            this[last].CopyTo(this[slot]);
        Count--;
    }

    /// <summary>The slots in use as one [Count, channels, height, width] tensor over the buffer (no copy).</summary>
    public OrtValue AsOrtValue(int channels, int height, int width)
    {
        if ((long)channels * height * width != slotSize)
            throw new ArgumentException($"a slot of {slotSize} floats is not {channels}x{height}x{width}");
        if (_buffer is null || Count == 0)
            throw new InvalidOperationException("the memory holds no frames");
        return _buffer.PrefixAsOrtValue(Count, channels, height, width);
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
        Count = 0;
    }

    // Rare: only a stream that keeps more anchors than its policy's capacity (objects
    // prompted on different frames) outgrows the first buffer.
    private void Grow(int slots)
    {
        var grown = memory.Rent(checked(slots * slotSize));
        if (_buffer is not null)
        {
            _buffer.Span[..(Count * slotSize)].CopyTo(grown.Span);
            _buffer.Dispose();
        }
        _buffer = grown;
    }

    private void CheckLength(ReadOnlySpan<float> features)
    {
        if (features.Length != slotSize)
            throw new ArgumentException($"features hold {features.Length} values, a slot {slotSize}");
    }
}
