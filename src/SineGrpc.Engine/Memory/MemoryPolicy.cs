namespace SineGrpc.Engine.Memory;

/// <summary>
/// Which frames a stream keeps in memory, per object. The defaults reproduce SINE's
/// reference video evaluation (--num_frame 6 --fix_first_frame --memory_decay_type
/// linear --memory_decay_ratio 20): the prompted frame is kept for good, and five
/// more slots hold the stream's own predictions, chosen by decayed score.
/// </summary>
/// <param name="Capacity">Entries per object, the fixed prompt entry included.</param>
/// <param name="FixFirstFrame">Keep the prompted frame for as long as the object is tracked.</param>
/// <param name="DecayRatio">Linear decay length in frames; 0 disables decay.</param>
public sealed record MemoryPolicy(int Capacity = 6, bool FixFirstFrame = true, float DecayRatio = 20f)
{
    public static MemoryPolicy Default { get; } = new();

    /// <summary>Slots for predicted (evictable) entries.</summary>
    public int RecentCapacity => Capacity - (FixFirstFrame ? 1 : 0);

    /// <summary>
    /// Weight of an entry <paramref name="age"/> frames old: max(0, 1 - age / ratio),
    /// exactly the reference's lookup table (ages past the table weigh 0).
    /// </summary>
    public float Decay(int age)
    {
        if (DecayRatio <= 0)
            return 1f;
        return age < (int)DecayRatio ? Math.Max(0f, 1f - age / DecayRatio) : 0f;
    }

    public void Validate(int maxCapacity)
    {
        if (Capacity < 1 || Capacity > maxCapacity)
            throw new InvalidInputException($"memory capacity must be between 1 and {maxCapacity}, not {Capacity}");
        if (DecayRatio < 0 || float.IsNaN(DecayRatio))
            throw new InvalidInputException($"memory decay ratio must be >= 0, not {DecayRatio}");
    }
}

/// <summary>An evictable memory entry: a prediction with its score and the frame it came from.</summary>
public interface IScoredEntry
{
    float Score { get; }
    int FrameNumber { get; }
}

/// <summary>
/// The evictable part of a memory, ordered as the reference orders its heap: when a
/// new entry makes it overfull, the entry with the lowest (decayed score, score, frame
/// number) goes, where decayed score = score x decay(now - frame). The new entry is
/// itself a candidate, so a poor prediction never displaces a good one.
/// </summary>
public sealed class RecentEntries<T>(MemoryPolicy policy) where T : IScoredEntry
{
    private readonly List<T> _entries = [];

    public IReadOnlyList<T> Items => _entries;

    /// <summary>Adds <paramref name="entry"/> at frame <paramref name="now"/>; returns the evicted entry, if any.</summary>
    public T? Add(T entry, int now)
    {
        _entries.Add(entry);
        if (_entries.Count <= policy.RecentCapacity)
            return default;

        var victim = 0;
        for (var i = 1; i < _entries.Count; i++)
        {
            if (Compare(_entries[i], _entries[victim], now) < 0)
                victim = i;
        }
        var evicted = _entries[victim];
        _entries.RemoveAt(victim);
        return evicted;
    }

    /// <summary>Takes out every entry that <paramref name="match"/> accepts and returns them, in order.</summary>
    public List<T> RemoveWhere(Predicate<T> match)
    {
        var removed = _entries.FindAll(match);
        _entries.RemoveAll(match);
        return removed;
    }

    public void Clear() => _entries.Clear();

    private int Compare(T a, T b, int now)
    {
        var byDecayed = (a.Score * policy.Decay(now - a.FrameNumber)).CompareTo(b.Score * policy.Decay(now - b.FrameNumber));
        if (byDecayed != 0)
            return byDecayed;
        var byScore = a.Score.CompareTo(b.Score);
        return byScore != 0 ? byScore : a.FrameNumber.CompareTo(b.FrameNumber);
    }
}
