using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// Where the host-side buffers of a component's inputs come from. On the CPU they are
/// pooled managed arrays. With CUDA they are page-locked ("pinned") blocks from ONNX
/// Runtime's CUDA-pinned allocator: the copy to the GPU is then a DMA transfer that need
/// not stage through a bounce buffer, which matters for the large per-frame inputs (the
/// image, the dense memory's features).
/// </summary>
public abstract class HostMemory : IDisposable
{
    /// <summary>Pooled managed arrays: what CPU execution wants.</summary>
    public static HostMemory Managed { get; } = new ManagedHostMemory();

    /// <summary>
    /// Blocks of exactly the size asked for, from the native heap, freed when given back:
    /// for buffers a stream keeps for its whole life (a dense memory's features). Pooled
    /// arrays would round such a buffer up to a power of two (a 75 MB memory takes 128)
    /// and keep it after the stream ends; the native heap hands blocks this large back to
    /// the operating system when they are freed.
    /// </summary>
    public static HostMemory Native { get; } = new NativeHostMemory();

    /// <summary>True when the buffers are page-locked for the GPU.</summary>
    public abstract bool IsPinned { get; }

    /// <summary>A buffer of <paramref name="length"/> floats (contents undefined); dispose it to give it back.</summary>
    public HostTensor Rent(int length) => Rent(length, length);

    /// <summary>
    /// A buffer of <paramref name="length"/> floats taken from the size class of
    /// <paramref name="capacity"/> floats, so that requests of varying lengths reuse one buffer.
    /// </summary>
    public abstract HostTensor Rent(int length, int capacity);

    public virtual void Dispose()
    {
    }
}

/// <summary>A rented host buffer of floats that can be handed to ONNX Runtime as a tensor.</summary>
public abstract class HostTensor : IDisposable
{
    public abstract int Length { get; }

    public abstract Span<float> Span { get; }

    /// <summary>A tensor of <paramref name="shape"/> over this buffer (no copy); dispose it before the buffer.</summary>
    public OrtValue AsOrtValue(params long[] shape)
    {
        var elements = Elements(shape);
        if (elements != Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] has {elements} elements; the buffer holds {Length}");
        return Wrap(shape, elements);
    }

    /// <summary>
    /// A tensor of <paramref name="shape"/> over the buffer's first elements (no copy), for
    /// a buffer kept larger than what it holds now; dispose it before the buffer.
    /// </summary>
    public OrtValue PrefixAsOrtValue(params long[] shape)
    {
        var elements = Elements(shape);
        if (elements > Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] has {elements} elements; the buffer holds only {Length}");
        return Wrap(shape, elements);
    }

    public abstract void Dispose();

    /// <summary>A tensor over the first <paramref name="elements"/> floats, which fit.</summary>
    protected abstract OrtValue Wrap(long[] shape, long elements);

    private static long Elements(long[] shape) => shape.Aggregate(1L, (product, dimension) => product * dimension);
}

/// <summary>A host buffer at a fixed native address, given back by <paramref name="release"/> once.</summary>
internal sealed class NativeTensor(IntPtr pointer, int length, OrtMemoryInfo memoryInfo, Action release) : HostTensor
{
    private int _released;

    public override int Length => length;

    public override unsafe Span<float> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
            return new Span<float>((void*)pointer, length);
        }
    }

    protected override OrtValue Wrap(long[] shape, long elements) =>
        OrtValue.CreateTensorValueWithData(memoryInfo, TensorElementType.Float, shape, pointer, elements * sizeof(float));

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            release();
    }
}

internal sealed class ManagedHostMemory : HostMemory
{
    public override bool IsPinned => false;

    public override HostTensor Rent(int length, int capacity) => new ManagedTensor(new PooledArray<float>(length, capacity));

    private sealed class ManagedTensor(PooledArray<float> array) : HostTensor
    {
        public override int Length => array.Length;

        public override Span<float> Span => array.Span;

        protected override OrtValue Wrap(long[] shape, long elements) => OrtTensors.Wrap(array.Memory[..(int)elements], shape);

        public override void Dispose() => array.Dispose();
    }
}

internal sealed class NativeHostMemory : HostMemory
{
    public override bool IsPinned => false;

    public override unsafe HostTensor Rent(int length, int capacity)
    {
        var floats = (nuint)Math.Max(1, Math.Max(length, capacity));
        var pointer = (IntPtr)NativeMemory.Alloc(floats, sizeof(float));
        return new NativeTensor(pointer, length, OrtMemoryInfo.DefaultInstance, () => NativeMemory.Free((void*)pointer));
    }
}

/// <summary>A block of native memory and how to free it.</summary>
internal sealed record NativeBlock(IntPtr Pointer, long Bytes, IDisposable Owner);

/// <summary>
/// Page-locked blocks, kept and reused: pinning is expensive (a driver call per
/// allocation), so blocks are never freed while the component lives. Sizes round up to a
/// power of two, so a stream whose memory grows frame by frame reuses a few blocks.
/// </summary>
internal sealed class PinnedHostMemory(Func<long, NativeBlock> allocate, OrtMemoryInfo memoryInfo, IDisposable? owner = null) : HostMemory
{
    private const long SmallestBlock = 64 * 1024;
    private readonly ConcurrentDictionary<long, ConcurrentBag<NativeBlock>> _free = new();
    private readonly ConcurrentBag<NativeBlock> _all = [];
    private int _disposed;

    /// <summary>
    /// Pinned memory from the CUDA-pinned allocator that <paramref name="session"/>'s CUDA
    /// provider registered; throws <see cref="OnnxRuntimeException"/> when there is none.
    /// </summary>
    public static PinnedHostMemory ForCuda(InferenceSession session, int deviceId)
    {
        var info = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput);
        try
        {
            var allocator = new OrtAllocator(session, info);
            var memory = new PinnedHostMemory(bytes =>
            {
                // A flat byte tensor owns the block; its data pointer is stable (native memory).
                var block = OrtValue.CreateAllocatedTensorValue(allocator, TensorElementType.UInt8, [bytes]);
                return new NativeBlock(AddressOf(block), bytes, block);
            }, info, new Owners(allocator, info));
            // Fail here, at load, rather than on a client's frame.
            memory.Rent(1).Dispose();
            return memory;
        }
        catch
        {
            info.Dispose();
            throw;
        }
    }

    public override bool IsPinned => true;

    private static unsafe IntPtr AddressOf(OrtValue tensor) =>
        (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.GetTensorMutableRawData()));

    /// <summary>Blocks allocated so far (each is reused, never freed before disposal).</summary>
    public int BlockCount => _all.Count;

    public override HostTensor Rent(int length, int capacity)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var floats = (ulong)Math.Max(1, Math.Max(length, capacity));
        var bytes = Math.Max(SmallestBlock, (long)BitOperations.RoundUpToPowerOf2(floats * sizeof(float)));
        if (!_free.GetOrAdd(bytes, _ => []).TryTake(out var block))
        {
            block = allocate(bytes);
            _all.Add(block);
        }
        return new NativeTensor(block.Pointer, length, memoryInfo, () => Return(block));
    }

    private void Return(NativeBlock block)
    {
        if (Volatile.Read(ref _disposed) == 0)
            _free.GetOrAdd(block.Bytes, _ => []).Add(block);
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        foreach (var block in _all)
            block.Owner.Dispose();
        owner?.Dispose();
    }

    private sealed class Owners(params IDisposable[] owned) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in owned)
                item.Dispose();
        }
    }
}
