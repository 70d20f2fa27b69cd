using System.Globalization;
using System.Text;
using SineGrpc.Client.Models;
using Sine.V1;

namespace SineGrpc.Client.Eval;

/// <summary>Mean server stage times (ms) over a run's replies.</summary>
internal sealed class ServerTimes
{
    private int _count;
    private double _decode, _preprocess, _encoder, _decoder, _postprocess, _memory, _total;

    public void Add(StageTimings? t)
    {
        if (t is null)
        {
            return;
        }
        _count++;
        _decode += t.ImageDecodeMs;
        _preprocess += t.PreprocessMs;
        _encoder += t.EncoderMs;
        _decoder += t.DecoderMs;
        _postprocess += t.PostprocessMs;
        _memory += t.MemoryMs;
        _total += t.TotalMs;
    }

    public void Add(ServerTimes other)
    {
        _count += other._count;
        _decode += other._decode;
        _preprocess += other._preprocess;
        _encoder += other._encoder;
        _decoder += other._decoder;
        _postprocess += other._postprocess;
        _memory += other._memory;
        _total += other._total;
    }

    public int Count => _count;
    public double Decode => Mean(_decode);
    public double Preprocess => Mean(_preprocess);
    public double Encoder => Mean(_encoder);
    public double Decoder => Mean(_decoder);
    public double Postprocess => Mean(_postprocess);
    public double Memory => Mean(_memory);
    public double Total => Mean(_total);

    private double Mean(double sum) => _count == 0 ? double.NaN : sum / _count;
}

/// <summary>A sequence's run (frames, seconds, server times) with its scores.</summary>
internal sealed record SequenceRun(SequenceScores Scores, int Frames, double Seconds, ServerTimes Times, int FrameErrors)
{
    public double FramesPerSecond => Seconds > 0 ? Frames / Seconds : 0;
}

/// <summary>The tables and CSV files of an evaluation, in the toolkit's layout and units.</summary>
internal static class EvalReport
{
    public static readonly string[] GlobalColumns = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"];

    /// <summary>The toolkit's global measures, as fractions: means over every object of every sequence.</summary>
    public static double[] GlobalMeasures(IEnumerable<ObjectScores> objects)
    {
        var list = objects.ToList();
        var j = list.Select(o => o.JStatistics).ToList();
        var f = list.Select(o => o.FStatistics).ToList();
        double jm = j.Average(s => s.Mean), fm = f.Average(s => s.Mean);
        return [(jm + fm) / 2, jm, j.Average(s => s.Recall), j.Average(s => s.Decay), fm, f.Average(s => s.Recall), f.Average(s => s.Decay)];
    }

    public static string GlobalCsv(IEnumerable<ObjectScores> objects) =>
        string.Join(",", GlobalColumns) + "\n" + string.Join(",", GlobalMeasures(objects).Select(Fraction)) + "\n";

    public static string PerSequenceCsv(IEnumerable<ObjectScores> objects)
    {
        var csv = new StringBuilder("Sequence,J-Mean,F-Mean\n");
        foreach (var o in objects)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{o.Name},{Fraction(o.JStatistics.Mean)},{Fraction(o.FStatistics.Mean)}\n");
        }
        return csv.ToString();
    }

    public static string TimingCsv(IReadOnlyList<SequenceRun> runs)
    {
        var csv = new StringBuilder("Sequence,Frames,Seconds,FPS,Server-Total-ms,Encoder-ms,Decoder-ms,Postprocess-ms,Memory-ms,Frame-Errors\n");
        foreach (var run in runs.Append(Total(runs)))
        {
            var t = run.Times;
            csv.Append(CultureInfo.InvariantCulture,
                $"{run.Scores.Sequence},{run.Frames},{run.Seconds:F3},{run.FramesPerSecond:F3},{t.Total:F2},{t.Encoder:F2},{t.Decoder:F2},{t.Postprocess:F2},{t.Memory:F2},{run.FrameErrors}\n");
        }
        return csv.ToString();
    }

    /// <summary>Per sequence (objects averaged within it) and overall, in percent, with speed.</summary>
    public static string Table(IReadOnlyList<SequenceRun> runs)
    {
        string[] headers = ["Sequence", "Objects", "Frames", "J&F", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay", "FPS", "Encoder ms", "Decoder ms"];
        var rows = new List<IReadOnlyList<string>>();
        foreach (var run in runs)
        {
            rows.Add(Row(run.Scores.Sequence, run.Scores.Objects, run));
        }
        var total = Total(runs);
        rows.Add(Row("Global", [.. runs.SelectMany(r => r.Scores.Objects)], total));
        return TextTable.Format(headers, rows);
    }

    private static string[] Row(string name, IReadOnlyList<ObjectScores> objects, SequenceRun run)
    {
        var m = GlobalMeasures(objects);
        return
        [
            name,
            objects.Count.ToString(CultureInfo.InvariantCulture),
            run.Frames.ToString(CultureInfo.InvariantCulture),
            .. m.Select(Percent),
            run.FramesPerSecond.ToString("F2", CultureInfo.InvariantCulture),
            run.Times.Encoder.ToString("F1", CultureInfo.InvariantCulture),
            run.Times.Decoder.ToString("F1", CultureInfo.InvariantCulture),
        ];
    }

    private static SequenceRun Total(IReadOnlyList<SequenceRun> runs)
    {
        var times = new ServerTimes();
        foreach (var run in runs)
        {
            times.Add(run.Times);
        }
        var scores = new SequenceScores("Global", runs.Sum(r => r.Scores.ScoredFrames), [.. runs.SelectMany(r => r.Scores.Objects)], []);
        return new SequenceRun(scores, runs.Sum(r => r.Frames), runs.Sum(r => r.Seconds), times, runs.Sum(r => r.FrameErrors));
    }

    private static string Fraction(double value) => value.ToString("F3", CultureInfo.InvariantCulture);

    private static string Percent(double value) => (100 * value).ToString("F1", CultureInfo.InvariantCulture);
}
