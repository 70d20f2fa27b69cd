using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace SineGrpc.Engine.Sessions;

/// <summary>ONNX Runtime session settings, bound from "Engine:OnnxRuntime".</summary>
public sealed class OnnxRuntimeOptions
{
    /// <summary>The providers tried when <see cref="ExecutionProviders"/> is not set.</summary>
    public static IReadOnlyList<string> DefaultExecutionProviders { get; } = ["cuda", "cpu"];

    /// <summary>
    /// Execution providers in order of preference: "cuda", "tensorrt", "cpu"; unset means
    /// <see cref="DefaultExecutionProviders"/>. The CPU provider is always last, whether
    /// listed or not. Engine:Device = "cpu" skips the rest.
    /// </summary>
    /// <remarks>
    /// Null rather than initialised to the default: the configuration binder appends a
    /// configured list to the one a property already holds, so a default held here would
    /// stay in front of every configured order.
    /// </remarks>
    public List<string>? ExecutionProviders { get; set; }

    [ValidateObjectMembers]
    public CudaProviderOptions Cuda { get; set; } = new();

    public TensorRtProviderOptions TensorRt { get; set; } = new();

    /// <summary>"disabled", "basic", "extended" or "all".</summary>
    public string GraphOptimizationLevel { get; set; } = "all";

    /// <summary>Folder for optimised models, so later starts skip graph optimisation; empty = off.</summary>
    public string OptimizedModelCache { get; set; } = "";

    /// <summary>Threads inside one operator; 0 = ONNX Runtime's default (one per core).</summary>
    [Range(0, int.MaxValue)]
    public int IntraOpThreads { get; set; }

    /// <summary>Threads across independent operators; 0 = ONNX Runtime's default.</summary>
    [Range(0, int.MaxValue)]
    public int InterOpThreads { get; set; }

    /// <summary>
    /// Whether idle intra-op threads spin before sleeping (ONNX Runtime's default). Spinning
    /// shaves a little latency off one run at a time; with several runs in flight (encoder
    /// batches, decoder runs of other streams) on few cores it burns the cycles they need.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Sessions per model component (encoder, pool, decoder). More than one helps on big GPUs.</summary>
    [Range(1, int.MaxValue)]
    public int SessionsPerComponent { get; set; } = 1;

    /// <summary>
    /// Runs one session may have in flight at once; callers beyond wait for a lease. Two
    /// runs share the session's threads: one run's serial stretches (transposes, gathers,
    /// top-k) leave cores the other uses, which serves concurrent streams more frames per
    /// second than one run at a time (see the README's benchmark).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentRunsPerSession { get; set; } = 2;
}

/// <summary>CUDA execution provider settings ("Engine:OnnxRuntime:Cuda").</summary>
public sealed class CudaProviderOptions
{
    /// <summary>"kNextPowerOfTwo" or "kSameAsRequested".</summary>
    public string ArenaExtendStrategy { get; set; } = "kNextPowerOfTwo";

    /// <summary>cuDNN convolution algorithm search: "EXHAUSTIVE", "HEURISTIC" or "DEFAULT".</summary>
    public string CudnnConvAlgoSearch { get; set; } = "EXHAUSTIVE";

    /// <summary>GPU memory limit of the arena in bytes; 0 = no limit.</summary>
    [Range(0, long.MaxValue)]
    public long GpuMemoryLimitBytes { get; set; }

    /// <summary>
    /// Stage the inputs in page-locked host memory from ONNX Runtime's CUDA-pinned allocator
    /// (faster, asynchronous copies to the GPU); false = pageable managed arrays.
    /// </summary>
    public bool PinnedHostMemory { get; set; } = true;
}

/// <summary>TensorRT execution provider settings ("Engine:OnnxRuntime:TensorRt"); used when "tensorrt" is listed.</summary>
public sealed class TensorRtProviderOptions
{
    public bool Fp16 { get; set; }

    /// <summary>Folder for built TensorRT engines; empty = no cache (slow starts).</summary>
    public string EngineCachePath { get; set; } = "";
}

/// <summary>Triton-style dynamic batching of encoder work ("Engine:Batching").</summary>
public sealed class BatchingOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Most frames in one encoder run.</summary>
    [Range(1, int.MaxValue)]
    public int MaxBatchSize { get; set; } = 4;

    /// <summary>How long the first frame of a batch may wait for others, in microseconds.</summary>
    [Range(0, int.MaxValue)]
    public int MaxQueueDelayMicroseconds { get; set; } = 1000;

    /// <summary>Batch sizes worth dispatching at once, without waiting out the delay.</summary>
    public List<int> PreferredBatchSizes { get; set; } = [];

    /// <summary>Frames that may wait for the encoder; callers beyond wait (backpressure).</summary>
    [Range(1, int.MaxValue)]
    public int QueueCapacity { get; set; } = 64;
}
