namespace SineGrpc.Bench;

/// <summary>Latency samples in milliseconds and their summary.</summary>
internal sealed class LatencyStats
{
    private readonly List<double> _samples = [];

    public int Count => _samples.Count;

    public void Add(double milliseconds)
    {
        lock (_samples)
            _samples.Add(milliseconds);
    }

    public double Percentile(double p)
    {
        var sorted = _samples.Order().ToArray();
        if (sorted.Length == 0)
            return double.NaN;
        var rank = p / 100.0 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public double Mean => _samples.Average();

    /// <summary>All the samples of several runs as one.</summary>
    public static LatencyStats Combine(params LatencyStats[] runs)
    {
        var all = new LatencyStats();
        foreach (var run in runs)
            all._samples.AddRange(run._samples);
        return all;
    }
}
