using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Models;

/// <summary>A model bundle with its ONNX components loaded and ready to run.</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(string folder, ModelManifest manifest, OnnxComponent encoder, OnnxComponent decoder, OnnxComponent? pool, OnnxComponent? groupedDecoder,
        EncoderBatcher? batcher, int maxPromptedFrames)
    {
        MaxPromptedFrames = maxPromptedFrames;
        Folder = folder;
        Manifest = manifest;
        Encoder = encoder;
        Decoder = decoder;
        Pool = pool;
        GroupedDecoder = groupedDecoder;
        Batcher = batcher;
    }

    public string Folder { get; }
    public ModelManifest Manifest { get; }
    public string Name => Manifest.Name;
    public OnnxComponent Encoder { get; }
    public OnnxComponent Decoder { get; }
    public OnnxComponent? Pool { get; }

    /// <summary>
    /// Dense models, optional (<see cref="ComponentFiles.GroupedDecoder"/>): answers objects that
    /// joined on different frames in one run rather than a <see cref="Decoder"/> run per join frame.
    /// </summary>
    public OnnxComponent? GroupedDecoder { get; }

    /// <summary>Merges encoder work of concurrent streams; null when batching is off.</summary>
    public EncoderBatcher? Batcher { get; }

    /// <summary>The execution provider the encoder (the bulk of the work) runs on.</summary>
    public string ExecutionProvider => Encoder.ExecutionProvider;

    /// <summary>
    /// For dense memory: the most different frames a stream's objects may be prompted on
    /// (<see cref="EngineOptions.MaxPromptedFrames"/>); 0 for token memory, which has no such limit.
    /// </summary>
    public int MaxPromptedFrames { get; }

    public MemoryPolicy DefaultPolicy =>
        new(Manifest.Memory.Capacity, Manifest.Memory.FixFirstFrame, Manifest.Memory.DecayRatio);

    /// <summary>Whether a stream on this model has a portable <see cref="Tracking.StreamState"/> (token memory).</summary>
    public bool HasStreamState => Manifest.MemoryKind == MemoryKinds.Tokens;

    /// <summary>
    /// What the model's decoder predicts: soft labels its objects compete in for each pixel
    /// (dense memory), or a logit map per object, read independently (tokens).
    /// </summary>
    internal MapKind MapKind => Manifest.MemoryKind == MemoryKinds.Dense ? MapKind.Labels : MapKind.Logits;

    /// <summary>A fresh per-stream memory of the kind the model needs.</summary>
    internal IFrameTracker CreateTracker(MemoryPolicy policy) => Manifest.MemoryKind switch
    {
        MemoryKinds.Tokens => new TokenTracker(this, policy),
        MemoryKinds.Dense => new DenseTracker(this, policy),
        _ => throw new InvalidOperationException($"unknown memory kind '{Manifest.MemoryKind}'"),
    };

    /// <param name="maxPromptedFrames">See <see cref="EngineOptions.MaxPromptedFrames"/> (dense memory only).</param>
    public static LoadedModel Load(string folder, SessionFactory sessions, int maxPromptedFrames, BatchingOptions? batching = null, EngineMetrics? metrics = null)
    {
        var manifest = ModelManifest.Read(Path.Combine(folder, "model.json"));
        OnnxComponent Create(string component, string file) => sessions.Create(component, Path.Combine(folder, file), manifest.Name);
        OnnxComponent? encoder = null, decoder = null, pool = null, grouped = null;
        try
        {
            encoder = Create("encoder", manifest.Files.Encoder);
            decoder = Create("decoder", manifest.Files.Decoder);
            pool = manifest.Files.Pool is { } poolFile ? Create("pool", poolFile) : null;
            // Its runs count as decoder runs: a frame still takes one.
            grouped = manifest.Files.GroupedDecoder is { } groupedFile ? Create("decoder", groupedFile) : null;
            if (manifest.MemoryKind == MemoryKinds.Dense)
            {
                CheckInputs(folder, manifest.Files.Decoder, decoder, DenseDecoderInputs.Plain);
                if (grouped is not null)
                    CheckInputs(folder, manifest.Files.GroupedDecoder!, grouped, DenseDecoderInputs.Grouped);
            }
        }
        catch
        {
            // Whatever was created before the failure: a bundle that fails to load leaves no sessions behind.
            encoder?.Dispose();
            decoder?.Dispose();
            pool?.Dispose();
            grouped?.Dispose();
            throw;
        }
        var batcher = batching is { Enabled: true } ? new EncoderBatcher(encoder, batching, metrics ?? new EngineMetrics()) : null;
        return new LoadedModel(folder, manifest, encoder, decoder, pool, grouped, batcher,
            manifest.MemoryKind == MemoryKinds.Dense ? maxPromptedFrames : 0);
    }

    // A decoder that wants other inputs than the service feeds would fail on every frame: refuse it at load.
    private static void CheckInputs(string folder, string file, OnnxComponent component, string[] expected)
    {
        if (!component.InputNames.SetEquals(expected))
            throw new InvalidDataException(
                $"{folder}: {file} takes inputs [{string.Join(", ", component.InputNames.Order())}]; the service feeds it [{string.Join(", ", expected.Order())}]");
    }

    /// <summary>Whether the components record metrics (see <see cref="OnnxComponent.RecordsMetrics"/>).</summary>
    internal bool RecordsMetrics
    {
        get => Encoder.RecordsMetrics;
        set
        {
            Encoder.RecordsMetrics = value;
            Decoder.RecordsMetrics = value;
            if (GroupedDecoder is not null)
                GroupedDecoder.RecordsMetrics = value;
            if (Pool is not null)
                Pool.RecordsMetrics = value;
        }
    }

    public void Dispose()
    {
        Batcher?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Encoder.Dispose();
        Decoder.Dispose();
        Pool?.Dispose();
        GroupedDecoder?.Dispose();
    }
}
