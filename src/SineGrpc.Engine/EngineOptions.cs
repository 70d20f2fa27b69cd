using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine;

/// <summary>Settings of the inference engine, bound from the "Engine" configuration section.</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Folder of model bundles: every sub-folder holding a model.json is served.</summary>
    public string ModelsPath { get; set; } = "models";

    /// <summary>Where the embedded default model is built and cached. Empty = a folder under the user's cache directory.</summary>
    public string EmbeddedModelCache { get; set; } = "";

    /// <summary>Serve the embedded ResNet-18 label-propagation model (built on first start).</summary>
    public bool EnableEmbeddedModel { get; set; } = true;

    /// <summary>Model used when a request names none. Empty = the embedded model, or the first bundle found.</summary>
    public string DefaultModel { get; set; } = "";

    /// <summary>"auto" (CUDA when it loads, else CPU), "cuda" (fail when CUDA cannot load) or "cpu".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>CUDA device ordinal.</summary>
    [Range(0, int.MaxValue)]
    public int CudaDeviceId { get; set; }

    /// <summary>ONNX Runtime sessions: execution providers, threads, pooling, optimisation cache.</summary>
    [ValidateObjectMembers]
    public OnnxRuntimeOptions OnnxRuntime { get; set; } = new();

    /// <summary>The dynamic batcher that merges encoder work from concurrent streams.</summary>
    [ValidateObjectMembers]
    public BatchingOptions Batching { get; set; } = new();

    /// <summary>How the embedded model is built: features, input size, label propagation, memory defaults (Engine:Embedded:*).</summary>
    public Models.Embedded.EmbeddedModelOptions Embedded { get; set; } = new();

    /// <summary>Largest memory capacity (entries per object) a stream may ask for.</summary>
    [Range(1, int.MaxValue)]
    public int MaxMemoryCapacity { get; set; } = 16;

    /// <summary>
    /// Dense-memory models (the embedded one): the most different frames a stream's objects
    /// may be prompted on at once. Each such frame's features stay in the stream's memory
    /// while an object is anchored there (14 MB a frame for 854x480 video on the embedded
    /// model), and objects that joined on different frames are decoded apart: a top-k pass
    /// over the memory per frame they joined on (the embedded model's decoder; a whole run
    /// for other dense bundles); without a bound one stream could hold a gigabyte and take
    /// that work per object every frame. A prompt beyond it is refused.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxPromptedFrames { get; set; } = 8;

    public string ResolveEmbeddedCache() =>
        !string.IsNullOrEmpty(EmbeddedModelCache)
            ? EmbeddedModelCache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "sine-grpc", "models");
}
