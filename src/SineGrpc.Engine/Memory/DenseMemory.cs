using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Memory;

/// <summary>
/// Memory of a dense (label propagation) model: whole frames, each with its encoder
/// features [C, h, w] and soft labels [L, h, w] (L = objects + 1, background first).
///
/// Frames are kept by the same policy as SINE's per-object memory, applied per
/// stream: anchor frames (where objects were prompted) stay while any of their
/// objects is anchored there, and up to <see cref="MemoryPolicy.RecentCapacity"/>
/// predicted frames are kept by decayed score. Re-anchoring an object moves its label
/// mass in older anchors to background, so only its newest prompt speaks for it.
///
/// The frames' features live in one <see cref="FeatureSlab"/>, which the decoder reads in
/// place; an entry knows its slot, and its labels are small enough to copy per run.
/// </summary>
public sealed class DenseMemory : IDisposable
{
    private readonly List<int> _objectIds = [];
    private readonly List<DenseEntry> _anchors = [];
    private readonly RecentEntries<DenseEntry> _recent;
    private readonly FeatureSlab _features;
    // The entry in each slot of the slab: _bySlot[i].Slot == i.
    private readonly List<DenseEntry> _bySlot = [];

    /// <param name="slabMemory">Where the features' slab comes from (<see cref="HostMemory.Native"/> by default).</param>
    public DenseMemory(int channels, int height, int width, MemoryPolicy policy, HostMemory? slabMemory = null)
    {
        Channels = channels;
        Height = height;
        Width = width;
        Policy = policy;
        _recent = new RecentEntries<DenseEntry>(policy);
        _features = new FeatureSlab(slabMemory ?? HostMemory.Native, channels * height * width, policy.Capacity);
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int Cells => Height * Width;
    public MemoryPolicy Policy { get; }

    /// <summary>Tracked object ids in label-channel order (channel = index + 1).</summary>
    public IReadOnlyList<int> ObjectIds => _objectIds;

    /// <summary>Label channels: objects plus background.</summary>
    public int LabelCount => _objectIds.Count + 1;

    public int EntryCount => _anchors.Count + _recent.Items.Count;

    public long ByteSize => _features.ByteSize + (long)EntryCount * LabelCount * Cells * sizeof(float);

    /// <summary>Frame numbers held, anchors first (for tests and diagnostics).</summary>
    public IReadOnlyList<int> Frames => [.. Entries.Select(e => e.FrameNumber)];

    /// <summary>Frame numbers held, in the order the decoder sees them (for tests and diagnostics).</summary>
    public IReadOnlyList<int> FramesInDecoderOrder => [.. _bySlot.Select(e => e.FrameNumber)];

    private IEnumerable<DenseEntry> Entries => _anchors.Concat(_recent.Items);

    /// <summary>Label channel of an object, or -1.</summary>
    public int ChannelOf(int objectId)
    {
        var index = _objectIds.BinarySearch(objectId);
        return index >= 0 ? index + 1 : -1;
    }

    /// <summary>Adds new objects (sorted into place); every stored frame gets a zero channel for them.</summary>
    public void AddObjects(IEnumerable<int> objectIds)
    {
        foreach (var id in objectIds)
        {
            var index = _objectIds.BinarySearch(id);
            if (index >= 0)
                continue;
            index = ~index;
            _objectIds.Insert(index, id);
            foreach (var entry in Entries)
                entry.InsertChannel(index + 1, Cells);
        }
    }

    /// <summary>
    /// Stores a prompted frame. <paramref name="labels"/> are [L, h, w] in the current
    /// channel order; <paramref name="anchoredIds"/> are the objects prompted on it.
    /// </summary>
    public void Anchor(ReadOnlySpan<float> features, ReadOnlySpan<float> labels, IReadOnlyCollection<int> anchoredIds, int frameNumber)
    {
        CheckShapes(features, labels);
        foreach (var id in anchoredIds)
            Unanchor(id);

        var entry = new DenseEntry(PooledArray<float>.CopyOf(labels), [.. anchoredIds], 1f, frameNumber);
        if (Policy.FixFirstFrame)
        {
            _anchors.Add(entry);
            Store(entry, features);
        }
        else
        {
            AddRecent(entry, features, frameNumber);
        }
    }

    /// <summary>Stores a predicted frame with its score (mean of the objects' scores).</summary>
    public void Remember(ReadOnlySpan<float> features, ReadOnlySpan<float> labels, float score, int frameNumber)
    {
        CheckShapes(features, labels);
        AddRecent(new DenseEntry(PooledArray<float>.CopyOf(labels), [], score, frameNumber), features, frameNumber);
    }

    // The policy picks what leaves before the features are written: a frame that enters
    // takes the slot of the one it evicts, and a frame evicted on arrival is never written.
    private void AddRecent(DenseEntry entry, ReadOnlySpan<float> features, int frameNumber)
    {
        var evicted = _recent.Add(entry, frameNumber);
        if (ReferenceEquals(evicted, entry))
        {
            entry.Dispose();
            return;
        }
        if (evicted is null)
        {
            Store(entry, features);
            return;
        }
        entry.Slot = evicted.Slot;
        _bySlot[entry.Slot] = entry;
        _features.Overwrite(entry.Slot, features);
        evicted.Dispose();
    }

    private void Store(DenseEntry entry, ReadOnlySpan<float> features)
    {
        entry.Slot = _features.Add(features);
        _bySlot.Add(entry);
    }

    private void Release(DenseEntry entry)
    {
        _features.RemoveAt(entry.Slot);
        var last = _bySlot[^1];
        _bySlot[entry.Slot] = last;
        last.Slot = entry.Slot;
        _bySlot.RemoveAt(_bySlot.Count - 1);
        entry.Dispose();
    }

    /// <summary>Stops tracking an object: its channel leaves every stored frame.</summary>
    public bool Remove(int objectId)
    {
        var index = _objectIds.BinarySearch(objectId);
        if (index < 0)
            return false;
        Unanchor(objectId);
        _objectIds.RemoveAt(index);
        foreach (var entry in Entries)
            entry.RemoveChannel(index + 1, Cells);
        return true;
    }

    /// <summary>
    /// Drops the predicted frames stored before frame <paramref name="frame"/>. Anchors stay:
    /// an anchor holds a prompt of a tracked object, which joined on or before its frame.
    /// </summary>
    public void ForgetBefore(int frame)
    {
        foreach (var entry in _recent.RemoveWhere(e => e.FrameNumber < frame))
            Release(entry);
    }

    /// <summary>Anchor frames that would stay if <paramref name="objectIds"/> left them (re-anchored elsewhere or removed).</summary>
    public int AnchorsKeptWithout(IReadOnlySet<int> objectIds) =>
        _anchors.Count(anchor => !anchor.AnchoredIds.IsSubsetOf(objectIds));

    /// <summary>Stored frames from frame <paramref name="sinceFrame"/> on.</summary>
    public int CountSince(int sinceFrame) => Entries.Count(e => e.FrameNumber >= sinceFrame);

    /// <summary>Copies the whole memory, in decoder order: features [M, C, h, w] and labels [M, L, h, w].</summary>
    public void CopyTo(Span<float> features, Span<float> labels)
    {
        CopyFeaturesTo(features, int.MinValue);
        CopyLabelsTo(labels);
    }

    /// <summary>Copies the labels of every stored frame on every channel, in decoder order: [M, L, h, w].</summary>
    public void CopyLabelsTo(Span<float> labels)
    {
        Span<int> all = stackalloc int[_objectIds.Count];
        for (var i = 0; i < all.Length; i++)
            all[i] = i + 1;
        CopyLabelsTo(labels, int.MinValue, all);
    }

    /// <summary>
    /// The features of every stored frame as the decoder's [M, C, h, w] input, read where
    /// they lie (no copy); in the order of <see cref="CopyLabelsTo"/> with no frame left out.
    /// Dispose it before changing the memory.
    /// </summary>
    public OrtValue FeaturesAsOrtValue() => _features.AsOrtValue(Channels, Height, Width);

    /// <summary>
    /// Writes, in decoder order, 1 for every stored frame from <paramref name="sinceFrame"/> on
    /// and 0 for the others: a group of objects' row of the decoder's <c>memory_visible</c>.
    /// </summary>
    public void MarkFramesSince(int sinceFrame, Span<float> row)
    {
        if (row.Length != _bySlot.Count)
            throw new ArgumentException($"row has {row.Length} values for {_bySlot.Count} stored frames", nameof(row));
        for (var i = 0; i < row.Length; i++)
            row[i] = _bySlot[i].FrameNumber >= sinceFrame ? 1f : 0f;
    }

    /// <summary>Copies the features of the frames stored from <paramref name="sinceFrame"/> on: [M, C, h, w].</summary>
    public void CopyFeaturesTo(Span<float> features, int sinceFrame)
    {
        var m = 0;
        foreach (var entry in _bySlot)
        {
            if (entry.FrameNumber < sinceFrame)
                continue;
            _features[entry.Slot].CopyTo(features.Slice(m * _features.SlotSize, _features.SlotSize));
            m++;
        }
    }

    /// <summary>
    /// Copies the labels of the frames stored from <paramref name="sinceFrame"/> on, with
    /// only the label <paramref name="channels"/> given: [M, 1 + channels, h, w], where the
    /// background is everything not among them.
    /// </summary>
    public void CopyLabelsTo(Span<float> labels, int sinceFrame, ReadOnlySpan<int> channels)
    {
        var cells = Cells;
        var labelSize = (1 + channels.Length) * cells;
        var m = 0;
        foreach (var entry in _bySlot)
        {
            if (entry.FrameNumber < sinceFrame)
                continue;
            var source = entry.Labels.Span;
            var target = labels.Slice(m * labelSize, labelSize);
            var background = target[..cells];
            background.Fill(1f);
            for (var k = 0; k < channels.Length; k++)
            {
                var channel = source.Slice(channels[k] * cells, cells);
                channel.CopyTo(target.Slice((k + 1) * cells, cells));
                for (var cell = 0; cell < cells; cell++)
                    background[cell] -= channel[cell];
            }
            for (var cell = 0; cell < cells; cell++)
                background[cell] = Math.Max(0f, background[cell]);
            m++;
        }
    }

    public void Dispose()
    {
        foreach (var entry in Entries)
            entry.Dispose();
        _anchors.Clear();
        _recent.Clear();
        _bySlot.Clear();
        _features.Dispose();
    }

    // An object re-anchored elsewhere no longer speaks from its old anchors: its mass
    // there becomes background, and an anchor left with no objects is dropped.
    private void Unanchor(int objectId)
    {
        var channel = ChannelOf(objectId);
        for (var i = _anchors.Count - 1; i >= 0; i--)
        {
            var anchor = _anchors[i];
            if (!anchor.AnchoredIds.Remove(objectId))
                continue;
            if (anchor.AnchoredIds.Count == 0)
            {
                _anchors.RemoveAt(i);
                Release(anchor);
            }
            else if (channel > 0)
            {
                anchor.MoveToBackground(channel, Cells);
            }
        }
    }

    private void CheckShapes(ReadOnlySpan<float> features, ReadOnlySpan<float> labels)
    {
        if (features.Length != Channels * Cells)
            throw new ArgumentException($"features hold {features.Length} values, expected {Channels}x{Height}x{Width}");
        if (labels.Length != LabelCount * Cells)
            throw new ArgumentException($"labels hold {labels.Length} values, expected {LabelCount}x{Height}x{Width}");
    }

    private sealed class DenseEntry(PooledArray<float> labels, HashSet<int> anchoredIds, float score, int frameNumber)
        : IScoredEntry, IDisposable
    {
        /// <summary>Where its features are in the slab.</summary>
        public int Slot { get; set; } = -1;
        public PooledArray<float> Labels { get; private set; } = labels;
        public HashSet<int> AnchoredIds { get; } = anchoredIds;
        public float Score { get; } = score;
        public int FrameNumber { get; } = frameNumber;

        public void InsertChannel(int channel, int cells)
        {
            var old = Labels;
            var grown = new PooledArray<float>(old.Length + cells);
            old.Span[..(channel * cells)].CopyTo(grown.Span);
            grown.Span.Slice(channel * cells, cells).Clear();
            old.Span[(channel * cells)..].CopyTo(grown.Span[((channel + 1) * cells)..]);
            Labels = grown;
            old.Dispose();
        }

        public void RemoveChannel(int channel, int cells)
        {
            MoveToBackground(channel, cells);
            var old = Labels;
            var shrunk = new PooledArray<float>(old.Length - cells);
            old.Span[..(channel * cells)].CopyTo(shrunk.Span);
            old.Span[((channel + 1) * cells)..].CopyTo(shrunk.Span[(channel * cells)..]);
            Labels = shrunk;
            old.Dispose();
        }

        public void MoveToBackground(int channel, int cells)
        {
            var background = Labels.Span[..cells];
            var moved = Labels.Span.Slice(channel * cells, cells);
            for (var i = 0; i < cells; i++)
            {
                background[i] += moved[i];
                moved[i] = 0f;
            }
        }

        public void Dispose() => Labels.Dispose();
    }
}
