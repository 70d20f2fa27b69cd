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

    /// <summary>The frames an object's memory holds, anchor first (for tests and diagnostics).</summary>
    public IReadOnlyList<int> FramesOf(int objectId) => [.. _objects[objectId].All().Select(e => e.FrameNumber)];

    private sealed record TokenEntry(float[] Sum, float Area, float Score, int FrameNumber) : IScoredEntry;

    private sealed class ObjectEntries(MemoryPolicy policy)
    {
        public TokenEntry? Anchor { get; set; }
        public RecentEntries<TokenEntry> Recent { get; } = new(policy);
        public int EntryCount => (Anchor is null ? 0 : 1) + Recent.Items.Count;

        public IEnumerable<TokenEntry> All() => Anchor is null ? Recent.Items : Recent.Items.Prepend(Anchor);
    }
}
