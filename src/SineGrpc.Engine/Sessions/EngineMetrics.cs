using System.Diagnostics.Metrics;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// The engine's instruments (meter "SineGrpc.Engine"): time spent waiting for and
/// running each ONNX component, and encoder batch sizes, tagged with the model. Exported
/// by the host. The histograms' counts are run counts: encoder runs per frame answered
/// can be read from them (warm-up runs are left out, see <see cref="OnnxComponent.RecordsMetrics"/>).
/// </summary>
public sealed class EngineMetrics
{
    public const string MeterName = "SineGrpc.Engine";
    private readonly Histogram<double> _queue;
    private readonly Histogram<double> _compute;
    private readonly Histogram<int> _batch;

    public EngineMetrics(IMeterFactory? meterFactory = null)
    {
        var meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _queue = meter.CreateHistogram<double>("sine.queue.duration", "s", "Wait for a session lease or an encoder batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
        _compute = meter.CreateHistogram<double>("sine.inference.duration", "s", "ONNX Runtime run time per component",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        _batch = meter.CreateHistogram<int>("sine.batch.size", "{frame}", "Frames per encoder run",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 3, 4, 6, 8, 12, 16, 32] });
    }

    public void Queued(string model, string component, TimeSpan wait) =>
        _queue.Record(wait.TotalSeconds, new("model", model), new("component", component));

    public void Computed(string model, string component, string provider, TimeSpan time) =>
        _compute.Record(time.TotalSeconds, new("model", model), new("component", component), new("provider", provider));

    public void Batched(string model, int size) => _batch.Record(size, new KeyValuePair<string, object?>("model", model));
}
