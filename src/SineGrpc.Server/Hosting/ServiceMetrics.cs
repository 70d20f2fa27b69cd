using System.Diagnostics.Metrics;
using Grpc.Core;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// The service's own instruments (System.Diagnostics.Metrics, meter "SineGrpc"), named
/// so that the Prometheus exporter writes them as sine_frames_total,
/// sine_streams_active, sine_stage_duration_seconds and so on.
/// </summary>
public sealed class ServiceMetrics
{
    public const string MeterName = "SineGrpc";
    private readonly Counter<long> _frames;
    private readonly Counter<long> _skippedFrames;
    private readonly Counter<long> _streams;
    private readonly Counter<long> _resumedStreams;
    private long _openStreams;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _stages;

    public ServiceMetrics(IMeterFactory meterFactory, ModelCatalog catalog)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("sine.execution_provider.info",
            () => catalog.Models.Select(m => new Measurement<int>(1,
                new KeyValuePair<string, object?>("model", m.Name),
                new KeyValuePair<string, object?>("provider", m.ExecutionProvider))),
            description: "The execution provider each model runs on (value 1)");
        _frames = meter.CreateCounter<long>("sine.frames", "{frame}", "Frames answered (Track) and images segmented (Segment)");
        _skippedFrames = meter.CreateCounter<long>("sine.frames.skipped", "{frame}", "Live-mode frames skipped as stale (answered with `skipped` set, not segmented)");
        _streams = meter.CreateCounter<long>("sine.streams", "{stream}", "Track streams accepted");
        _resumedStreams = meter.CreateCounter<long>("sine.streams.resumed", "{stream}", "Track streams that went on from an earlier stream's state (resume_state)");
        // Observed rather than counted: a counter has no series until its first change, and the
        // autoscaler's per-pod metric must be there, at 0, from a pod's first scrape.
        meter.CreateObservableUpDownCounter("sine.streams.active", () => Volatile.Read(ref _openStreams), "{stream}", "Track streams open now");
        _errors = meter.CreateCounter<long>("sine.errors", "{error}", "Failed frames and calls, by gRPC status");
        _stages = meter.CreateHistogram<double>("sine.stage.duration", "s", "Server time per frame and stage",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
    }

    public void StreamOpened()
    {
        _streams.Add(1);
        Interlocked.Increment(ref _openStreams);
    }

    public void StreamClosed() => Interlocked.Decrement(ref _openStreams);

    public void StreamResumed() => _resumedStreams.Add(1);

    public void Error(StatusCode status) =>
        _errors.Add(1, new KeyValuePair<string, object?>("status", StatusNames.Of(status)));

    public void Frame(string model, StageTimes times, double imageDecodeMs, double totalMs)
    {
        _frames.Add(1, new KeyValuePair<string, object?>("model", model));
        Stage("image_decode", imageDecodeMs);
        Stage("preprocess", times.PreprocessMs);
        Stage("encoder", times.EncoderMs);
        Stage("decoder", times.DecoderMs);
        Stage("postprocess", times.PostprocessMs);
        Stage("memory", times.MemoryMs);
        Stage("total", totalMs);
    }

    public void FrameSkipped() => _skippedFrames.Add(1);

    private void Stage(string stage, double milliseconds) =>
        _stages.Record(milliseconds / 1000.0, new KeyValuePair<string, object?>("stage", stage));
}

/// <summary>gRPC status names as the protocol spells them (INVALID_ARGUMENT, not InvalidArgument).</summary>
public static class StatusNames
{
    public static string Of(StatusCode code) =>
        string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant();
}
