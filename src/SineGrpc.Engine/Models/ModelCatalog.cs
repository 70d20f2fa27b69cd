using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Models;

/// <summary>
/// The models this process serves: the embedded default (built on first use) and every
/// bundle under <see cref="EngineOptions.ModelsPath"/>. Loading is slow (building,
/// session creation, warm-up), so it happens once, in <see cref="LoadAsync"/>, and the
/// host reports itself ready only after it.
/// </summary>
public sealed class ModelCatalog(SessionFactory sessions, IOptions<EngineOptions> options, ILogger<ModelCatalog> logger, EngineMetrics? metrics = null) : IDisposable
{
    private readonly EngineOptions _options = options.Value;
    private volatile IReadOnlyDictionary<string, LoadedModel> _models = new Dictionary<string, LoadedModel>();

    public bool IsReady { get; private set; }

    public string DefaultModelName { get; private set; } = "";

    public IReadOnlyCollection<LoadedModel> Models => [.. _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];

    public int MaxMemoryCapacity => _options.MaxMemoryCapacity;

    /// <summary>The model of that name (empty = the default), or null.</summary>
    public LoadedModel? Find(string? name) =>
        _models.GetValueOrDefault(string.IsNullOrEmpty(name) ? DefaultModelName : name);

    public Task LoadAsync(CancellationToken cancellationToken) => Task.Run(() => Load(cancellationToken), cancellationToken);

    private async Task Load(CancellationToken cancellationToken)
    {
        var models = new Dictionary<string, LoadedModel>(StringComparer.Ordinal);
        foreach (var folder in BundleFolders())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var model = LoadedModel.Load(folder, sessions, _options.MaxPromptedFrames, _options.Batching, metrics);
            if (!models.TryAdd(model.Name, model))
            {
                model.Dispose();
                throw new InvalidOperationException($"two bundles are named '{model.Name}' (second: {folder})");
            }
            await WarmupAsync(model);
            logger.LogInformation("Loaded model {Model} ({Kind} memory) from {Folder} on {Provider}",
                model.Name, model.Manifest.MemoryKind, folder, model.ExecutionProvider);
        }
        if (models.Count == 0)
            throw new InvalidOperationException($"no models: the embedded model is disabled and {_options.ModelsPath} holds no model.json");

        DefaultModelName = _options.DefaultModel is { Length: > 0 } configured
            ? models.ContainsKey(configured) ? configured : throw new InvalidOperationException($"Engine:DefaultModel '{configured}' is not among the loaded models ({string.Join(", ", models.Keys)})")
            : models.ContainsKey(EmbeddedModel.Name) ? EmbeddedModel.Name : models.Keys.Order(StringComparer.Ordinal).First();
        _models = models;
        IsReady = true;
    }

    private IEnumerable<string> BundleFolders()
    {
        if (_options.EnableEmbeddedModel)
            yield return EmbeddedModel.EnsureBuilt(_options.ResolveEmbeddedCache(), logger, _options.Embedded);
        if (Directory.Exists(_options.ModelsPath))
        {
            foreach (var manifest in Directory.EnumerateFiles(_options.ModelsPath, "model.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                yield return Path.GetDirectoryName(Path.GetFullPath(manifest))!;
        }
        else if (!string.IsNullOrEmpty(_options.ModelsPath) && _options.ModelsPath != new EngineOptions().ModelsPath)
        {
            throw new InvalidOperationException($"Engine:ModelsPath '{_options.ModelsPath}' does not exist");
        }
    }

    // One full frame through every component, at a typical size, so the first real
    // stream does not pay for lazy initialisation (and CUDA for its algorithm search);
    // with a grouped decoder, a second object joins on a later frame so that it runs too.
    // Left out of the metrics: they count the service's work.
    private static async Task WarmupAsync(LoadedModel model)
    {
        var width = model.Manifest.InputSize;
        var height = Math.Max(1, width * 9 / 16);
        using var image = new Mat(height, width, MatType.CV_8UC3, Scalar.All(127));
        // Blocks, not lines: SINE pools masks at 3.5 input pixels a cell, where a one-pixel
        // line can vanish (and an empty prompt is rejected). A quarter of the image each.
        Memory.PooledArray<byte> Block(int quarterRow, int quarterColumn)
        {
            var block = Memory.PooledArray<byte>.Zeroed(width * height);
            for (var y = quarterRow * height / 4; y < (quarterRow + 1) * height / 4; y++)
                block.Span[(y * width + quarterColumn * width / 4)..(y * width + (quarterColumn + 1) * width / 4)].Fill(1);
            return block;
        }
        using var mask = Block(1, 1);
        using var laterMask = Block(2, 2);
        model.RecordsMetrics = false;
        try
        {
            using var session = new TrackSession(model, model.DefaultPolicy, new OutputSpec(0, 0, Exclusive: false));
            using (await session.ProcessFrameAsync(new FrameInput(image, [new PromptMask(1, mask.Memory)], []))) { }
            using (await session.ProcessFrameAsync(new FrameInput(image, [], []))) { }
            if (model.GroupedDecoder is not null)
            {
                using (await session.ProcessFrameAsync(new FrameInput(image, [new PromptMask(2, laterMask.Memory)], []))) { }
                using (await session.ProcessFrameAsync(new FrameInput(image, [], []))) { }
            }
        }
        finally
        {
            model.RecordsMetrics = true;
        }
    }

    public void Dispose()
    {
        foreach (var model in _models.Values)
            model.Dispose();
    }
}
