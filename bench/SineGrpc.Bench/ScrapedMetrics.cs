namespace SineGrpc.Bench;

/// <summary>Arithmetic on scrapes of the server's /metrics (series key -> value).</summary>
internal static class ScrapedMetrics
{
    /// <summary>A metric summed over its label sets (heap sizes and GC counts come per generation).</summary>
    public static double Sum(Dictionary<string, double> metrics, string name) =>
        metrics.Where(kv => kv.Key.StartsWith(name, StringComparison.Ordinal)).Sum(kv => kv.Value);

    /// <summary>How much the series <paramref name="select"/> picks grew from one scrape to the next.</summary>
    public static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, Func<string, bool> select) =>
        after.Where(kv => select(kv.Key)).Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));

    /// <summary>How much a metric, summed over its label sets, grew from one scrape to the next.</summary>
    /// <exception cref="InvalidOperationException">A scrape lacks the metric: a delta of 0 would read as a measurement.</exception>
    public static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string name)
    {
        bool Selected(string key) => key.StartsWith(name, StringComparison.Ordinal);
        if (!before.Keys.Any(Selected) || !after.Keys.Any(Selected))
            throw new InvalidOperationException($"the server's /metrics has no {name} series: it cannot be measured (was the metric renamed?)");
        return Delta(before, after, Selected);
    }
}
