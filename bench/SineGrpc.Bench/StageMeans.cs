namespace SineGrpc.Bench;

/// <summary>
/// Mean time per frame of each pipeline stage, in milliseconds: where a frame's time goes.
/// The service reports its stages in every reply; the raw pipeline times its two.
/// </summary>
internal sealed class StageMeans
{
    /// <summary>The stages, in pipeline order, as the table prints them.</summary>
    public static readonly string[] Stages = ["image decode", "pre-process", "encoder", "decoder", "post-process", "memory", "total"];

    private readonly double[] _sums = new double[Stages.Length];
    private int _frames;

    /// <summary>Adds one frame's times, in the order of <see cref="Stages"/> (NaN: not measured).</summary>
    public void Add(params double[] milliseconds)
    {
        if (milliseconds.Length != Stages.Length)
            throw new ArgumentException($"expected {Stages.Length} stage times, got {milliseconds.Length}", nameof(milliseconds));
        lock (_sums)
        {
            for (var i = 0; i < _sums.Length; i++)
                _sums[i] += milliseconds[i];
            _frames++;
        }
    }

    /// <summary>"| a | b | ... |" cells of the mean per stage ("-" where not measured).</summary>
    public string Cells() =>
        string.Join(" | ", _sums.Select(sum => _frames == 0 || double.IsNaN(sum) ? "-" : (sum / _frames).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));
}
