using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tests.TestModels;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Models;

/// <summary>
/// The engine's metrics count the service's work: a client reading encoder runs per frame
/// from them must read one, not one plus the start-up warm-up.
/// </summary>
public sealed class ModelCatalogMetricsTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "sinegrpc-catalog-metrics-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Warm_up_is_left_out_and_each_frame_records_one_encoder_run_tagged_with_its_model()
    {
        using var meters = new TestMeterFactory();
        var recorded = new ConcurrentQueue<(string Instrument, string? Model, string? Component)>();
        using var listener = new MeterListener
        {
            // Only this test's meters: other tests run engines at the same time.
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters)
                    l.EnableMeasurementEvents(instrument);
            },
        };
        void Record(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? model = null, component = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "model")
                    model = (string?)tag.Value;
                else if (tag.Key == "component")
                    component = (string?)tag.Value;
            }
            recorded.Enqueue((instrument.Name, model, component));
        }
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Record(instrument, tags));
        listener.SetMeasurementEventCallback<int>((instrument, _, tags, _) => Record(instrument, tags));
        listener.Start();

        TokenTestBundle.Build(Path.Combine(_folder, "bundle"));
        var options = Options.Create(new EngineOptions { EnableEmbeddedModel = false, ModelsPath = _folder, Device = "cpu" });
        var metrics = new EngineMetrics(meters);
        using var catalog = new ModelCatalog(new SessionFactory(options, NullLogger<SessionFactory>.Instance, metrics), options,
            NullLogger<ModelCatalog>.Instance, metrics);
        await catalog.LoadAsync(CancellationToken.None);
        var model = catalog.Find(TokenTestBundle.Name)!;

        Assert.Equal(2, model.Encoder.Runs);   // the warm-up ran two frames ...
        Assert.Empty(recorded);                // ... and recorded nothing

        const int Frames = 3;
        using var image = new Mat(96, 128, MatType.CV_8UC3, new Scalar(40, 90, 200));
        var mask = new byte[96 * 128];
        mask.AsSpan(0, 48 * 128).Fill(1);
        using (var session = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false)))
        {
            for (var frame = 0; frame < Frames; frame++)
            {
                PromptMask[] prompts = frame == 0 ? [new PromptMask(1, mask)] : [];
                using var result = await session.ProcessFrameAsync(new FrameInput(image, prompts, []));
            }
        }

        var encoderRuns = recorded.Count(r => r.Instrument == "sine.inference.duration" && r.Component == "encoder");
        Assert.Equal(Frames, encoderRuns);
        Assert.Equal(Frames, recorded.Count(r => r.Instrument == "sine.inference.duration" && r.Component == "decoder"));
        Assert.All(recorded, r => Assert.Equal(TokenTestBundle.Name, r.Model));
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }

    [Fact]
    public async Task Warm_up_runs_the_grouped_decoder_too()
    {
        var options = Options.Create(new EngineOptions
        {
            ModelsPath = "",
            EmbeddedModelCache = _folder,
            Embedded = new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = 16, InputSize = 128 },
            Device = "cpu",
        });
        Directory.CreateDirectory(_folder);
        var metrics = new EngineMetrics();
        using var catalog = new ModelCatalog(new SessionFactory(options, NullLogger<SessionFactory>.Instance, metrics), options,
            NullLogger<ModelCatalog>.Instance, metrics);
        await catalog.LoadAsync(CancellationToken.None);
        var model = catalog.Find(catalog.DefaultModelName)!;

        // Four frames: the prompt, a plain run, a later object's prompt, and one grouped run.
        Assert.Equal(4, model.Encoder.Runs);
        Assert.Equal(1, model.GroupedDecoder!.Runs);
    }
}
