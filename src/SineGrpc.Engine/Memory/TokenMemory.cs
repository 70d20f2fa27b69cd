namespace SineGrpc.Engine.Memory;

/// <summary>
/// SINE's video memory, reduced to what the decoder reads from it. Mask pooling is
/// linear, so an entry needs only its masked feature sum S (C floats) and mask area A;
/// an object's ID token is sum(S) / (sum(A) + 1e-8) over its entries. This is the
/// reference algorithm's result without re-encoding any memory image.
/// </summary>
public sealed class TokenMemory(int channels, MemoryPolicy policy)
{
    private const float Epsilon = 1e-8f;
    private readonly SortedDictionary<int, ObjectEntries> _objects = [];

    public int Channels { get; } = channels;
    public MemoryPolicy Policy { get; } = policy;

    public IReadOnlyCollection<int> ObjectIds => _objects.Keys;
    public int ObjectCount => _objects.Count;

    /// <summary>Approximate bytes held: one C-vector and a few scalars per entry.</summary>
    public long ByteSize => _objects.Values.Sum(o => (long)o.EntryCount * (Channels * sizeof(float) + 12));

    public bool Contains(int objectId) => _objects.ContainsKey(objectId);

    /// <summary>Number of entries an object has (its fixed anchor included).</summary>
    public int EntryCount(int objectId) => _objects[objectId].EntryCount;

    /// <summary>
    /// Starts tracking an object, or re-anchors a known one: the prompt replaces its
    /// fixed entry. Without a fixed first frame the prompt is an ordinary entry of score 1.
    /// </summary>
    public void Anchor(int objectId, ReadOnlySpan<float> sum, float area, int frameNumber)
    {
        if (!_objects.TryGetValue(objectId, out var entries))
            _objects[objectId] = entries = new ObjectEntries(Policy);
        var entry = new TokenEntry(sum.ToArray(), area, 1f, frameNumber);
        if (Policy.FixFirstFrame)
            entries.Anchor = entry;
        else
            entries.Recent.Add(entry, frameNumber);
    }

    /// <summary>Writes a prediction of a tracked object back to its memory.</summary>
    public void Remember(int objectId, ReadOnlySpan<float> sum, float area, float score, int frameNumber)
    {
        if (!_objects.TryGetValue(objectId, out var entries))
            throw new InvalidOperationException($"object {objectId} is not tracked");
        entries.Recent.Add(new TokenEntry(sum.ToArray(), area, score, frameNumber), frameNumber);
    }

    public bool Remove(int objectId) => _objects.Remove(objectId);

    /// <summary>Writes every object's ID token, in <see cref="ObjectIds"/> order, into [N, C].</summary>
    public void WriteTokens(Span<float> destination)
    {
        var row = 0;
        foreach (var entries in _objects.Values)
        {
            var token = destination.Slice(row++ * Channels, Channels);
            token.Clear();
            var area = 0f;
            foreach (var entry in entries.All())
            {
                for (var c = 0; c < Channels; c++)
                    token[c] += entry.Sum[c];
                area += entry.Area;
            }
            var scale = 1f / (area + Epsilon);
            for (var c = 0; c < Channels; c++)
                token[c] *= scale;
        }
    }

    /// <summary>Everything the memory holds, in its own order (see <see cref="TokenMemoryState"/>).</summary>
    public TokenMemoryState Capture() => new(Channels, Policy,
        [.. _objects.Select(o => new TokenObjectState(o.Key, o.Value.Anchor?.ToState(), [.. o.Value.Recent.Items.Select(e => e.ToState())]))]);

    /// <summary>
    /// A memory holding <paramref name="state"/>, for a stream that has processed
    /// <paramref name="framesProcessed"/> frames. A state comes from a client: anything a
    /// memory of its policy could not hold is refused (<see cref="InvalidInputException"/>).
    /// </summary>
    public static TokenMemory Restore(TokenMemoryState state, int channels, int framesProcessed, int maxCapacity)
    {
        if (state.Channels != channels)
            throw new InvalidInputException($"the state's memory has {state.Channels} channels; the model's tokens have {channels}");
        var policy = state.Policy;
        policy.Validate(maxCapacity);
        var memory = new TokenMemory(channels, policy);
        foreach (var o in state.Objects)
        {
            var what = $"the state's object {o.ObjectId}";
            if (o.ObjectId is <= 0 or > ushort.MaxValue)
                throw new InvalidInputException($"{what}: ids are 1 to {ushort.MaxValue}");
            if (memory._objects.ContainsKey(o.ObjectId))
                throw new InvalidInputException($"{what} is there twice");
            if ((o.Anchor is not null) != policy.FixFirstFrame)
                throw new InvalidInputException(policy.FixFirstFrame ? $"{what} has no fixed entry, which its policy keeps" : $"{what} has a fixed entry, which its policy does not keep");
            if (o.Recent.Count > policy.RecentCapacity || (o.Anchor is null && o.Recent.Count == 0))
                throw new InvalidInputException($"{what} has {o.Recent.Count} predicted entries; its policy holds 1 to {policy.RecentCapacity}");
            var entries = new ObjectEntries(policy) { Anchor = o.Anchor is null ? null : Entry(o.Anchor, what) };
            foreach (var entry in o.Recent)
                entries.Recent.Add(Entry(entry, what), framesProcessed);
            memory._objects[o.ObjectId] = entries;
        }
        return memory;

        TokenEntry Entry(TokenEntryState e, string what)
        {
            if (e.Sum.Length != channels)
                throw new InvalidInputException($"{what}: an entry has {e.Sum.Length} values, not {channels}");
            if (!float.IsFinite(e.Area) || e.Area < 0 || !float.IsFinite(e.Score) || e.Score is < 0 or > 1 || !e.Sum.All(float.IsFinite))
                throw new InvalidInputException($"{what}: an entry holds a value no memory can (area {e.Area}, score {e.Score}, or a sum that is not finite)");
            if (e.FrameNumber < 0 || e.FrameNumber >= framesProcessed)
                throw new InvalidInputException($"{what}: an entry of frame {e.FrameNumber}, but the stream had processed {framesProcessed} frames");
            return new TokenEntry((float[])e.Sum.Clone(), e.Area, e.Score, e.FrameNumber);
        }
    }

    /// <summary>The frames an object's memory holds, anchor first (for tests and diagnostics).</summary>
    public IReadOnlyList<int> FramesOf(int objectId) => [.. _objects[objectId].All().Select(e => e.FrameNumber)];

    private sealed record TokenEntry(float[] Sum, float Area, float Score, int FrameNumber) : IScoredEntry
    {
        public TokenEntryState ToState() => new((float[])Sum.Clone(), Area, Score, FrameNumber);
    }

    private sealed class ObjectEntries(MemoryPolicy policy)
    {
        public TokenEntry? Anchor { get; set; }
        public RecentEntries<TokenEntry> Recent { get; } = new(policy);
        public int EntryCount => (Anchor is null ? 0 : 1) + Recent.Items.Count;

        public IEnumerable<TokenEntry> All() => Anchor is null ? Recent.Items : Recent.Items.Prepend(Anchor);
    }
}
