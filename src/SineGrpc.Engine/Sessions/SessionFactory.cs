using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// Creates the session pools of model components on the configured execution
/// providers. With Device = "auto", providers that cannot load (no driver, no CUDA 13 /
/// cuDNN 9) are skipped, once, with one log line, down to CPU which always works.
/// </summary>
public sealed class SessionFactory(IOptions<EngineOptions> options, ILogger<SessionFactory> logger, EngineMetrics? metrics = null)
{
    private readonly EngineOptions _options = options.Value;
    private readonly EngineMetrics _metrics = metrics ?? new EngineMetrics();
    // A provider that failed to load fails for every component: remember, so the log
    // says it once and later sessions go straight to the next provider.
    private readonly HashSet<string> _unavailable = [];

    /// <summary>Providers to try, in order, for the configured device: always ending with "cpu".</summary>
    public IReadOnlyList<string> ProviderOrder()
    {
        var device = _options.Device.Trim().ToLowerInvariant();
        if (device is not ("auto" or "cuda" or "cpu"))
            throw new InvalidOperationException($"Engine:Device must be auto, cuda or cpu, not '{_options.Device}'");
        if (device == "cpu")
            return ["cpu"];
        var configured = _options.OnnxRuntime.ExecutionProviders ?? OnnxRuntimeOptions.DefaultExecutionProviders;
        var order = configured.Select(p => p.Trim().ToLowerInvariant()).Where(p => p != "cpu").Distinct().ToList();
        foreach (var provider in order)
        {
            if (provider is not ("cuda" or "tensorrt"))
                throw new InvalidOperationException($"Engine:OnnxRuntime:ExecutionProviders: unknown provider '{provider}' (cuda, tensorrt, cpu)");
        }
        if (device == "cuda" && !order.Contains("cuda"))
            order.Add("cuda");
        order.Add("cpu");
        return order;
    }

    /// <summary>A session pool for one component of a model, on the first provider that loads.</summary>
    /// <param name="name">Component name ("encoder", "pool", "decoder"): logs, metrics, the optimised-model cache.</param>
    /// <param name="modelPath">The component's ONNX file.</param>
    /// <param name="model">The model it belongs to: the metrics' "model" tag.</param>
    public OnnxComponent Create(string name, string modelPath, string model = "")
    {
        var device = _options.Device.Trim().ToLowerInvariant();
        foreach (var provider in ProviderOrder())
        {
            lock (_unavailable)
            {
                if (_unavailable.Contains(provider))
                    continue;
            }
            try
            {
                var count = Math.Max(1, _options.OnnxRuntime.SessionsPerComponent);
                var sessions = new InferenceSession[count];
                for (var i = 0; i < count; i++)
                    sessions[i] = CreateSession(name, modelPath, provider);
                return new OnnxComponent(name, model, sessions, DisplayName(provider), _options.OnnxRuntime.MaxConcurrentRunsPerSession, _metrics,
                    InputMemory(name, provider, sessions[0]));
            }
            catch (OnnxRuntimeException e) when (provider != "cpu" && !(device == "cuda" && provider == "cuda"))
            {
                lock (_unavailable)
                    _unavailable.Add(provider);
                logger.LogWarning("{Provider} execution provider unavailable, falling back: {Reason}", DisplayName(provider), FirstLine(e.Message));
            }
            catch (OnnxRuntimeException e) when (provider == "cuda")
            {
                throw new InvalidOperationException(
                    $"Engine:Device is 'cuda' but the CUDA execution provider did not load ({FirstLine(e.Message)}). " +
                    "It needs an NVIDIA driver, CUDA 13 and cuDNN 9 on the library path; use Device 'auto' to fall back to CPU.", e);
            }
        }
        throw new InvalidOperationException("no execution provider could load the model");
    }

    /// <summary>Pinned host memory for the inputs on a GPU provider (when it can be had), else managed arrays.</summary>
    private HostMemory InputMemory(string name, string provider, InferenceSession session)
    {
        if (provider is not ("cuda" or "tensorrt") || !_options.OnnxRuntime.Cuda.PinnedHostMemory)
            return HostMemory.Managed;
        try
        {
            return PinnedHostMemory.ForCuda(session, _options.CudaDeviceId);
        }
        catch (OnnxRuntimeException e)
        {
            logger.LogWarning("{Component}: CUDA-pinned host memory unavailable, inputs use pageable memory: {Reason}", name, FirstLine(e.Message));
            return HostMemory.Managed;
        }
    }

    private InferenceSession CreateSession(string name, string modelPath, string provider)
    {
        using var sessionOptions = CreateOptions(provider);
        var cache = _options.OnnxRuntime.OptimizedModelCache;
        if (string.IsNullOrEmpty(cache) || _options.OnnxRuntime.GraphOptimizationLevel == "disabled" || !CachesOptimizedModel(provider))
            return new InferenceSession(modelPath, sessionOptions);

        // An optimised model is only valid for the providers and ORT build that made it.
        Directory.CreateDirectory(cache);
        var optimised = Path.Combine(cache, $"{name}-{CacheKey(modelPath, provider)}.onnx");
        if (File.Exists(optimised))
        {
            sessionOptions.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            return new InferenceSession(optimised, sessionOptions);
        }
        sessionOptions.OptimizedModelFilePath = optimised;
        return new InferenceSession(modelPath, sessionOptions);
    }

    /// <summary>
    /// Whether sessions on <paramref name="provider"/> use the optimised-model cache. Not
    /// TensorRT's: it compiles what it takes into nodes that ONNX Runtime cannot save, so
    /// asking for the file would fail the session (and the provider would look unavailable);
    /// TensorRT keeps its built engines in a cache of its own (TensorRt:EngineCachePath).
    /// </summary>
    internal static bool CachesOptimizedModel(string provider) => provider != "tensorrt";

    /// <summary>Session options for one provider (exposed for configuration tests).</summary>
    internal SessionOptions CreateOptions(string provider)
    {
        var ort = _options.OnnxRuntime;
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = ParseLevel(ort.GraphOptimizationLevel),
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            if (ort.IntraOpThreads > 0)
                sessionOptions.IntraOpNumThreads = ort.IntraOpThreads;
            if (ort.InterOpThreads > 0)
                sessionOptions.InterOpNumThreads = ort.InterOpThreads;
            if (!ort.AllowSpinning)
                sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            switch (provider)
            {
                case "tensorrt":
                    using (var trt = new OrtTensorRTProviderOptions())
                    {
                        trt.UpdateOptions(TensorRtSettings());
                        sessionOptions.AppendExecutionProvider_Tensorrt(trt);
                    }
                    // TensorRT hands what it cannot run to CUDA.
                    using (var cudaForTrt = new OrtCUDAProviderOptions())
                    {
                        cudaForTrt.UpdateOptions(CudaSettings());
                        sessionOptions.AppendExecutionProvider_CUDA(cudaForTrt);
                    }
                    break;
                case "cuda":
                    using (var cuda = new OrtCUDAProviderOptions())
                    {
                        cuda.UpdateOptions(CudaSettings());
                        sessionOptions.AppendExecutionProvider_CUDA(cuda);
                    }
                    break;
            }
            return sessionOptions;
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    /// <summary>The CUDA provider's option strings, as ONNX Runtime names them.</summary>
    public Dictionary<string, string> CudaSettings()
    {
        var cuda = _options.OnnxRuntime.Cuda;
        if (cuda.ArenaExtendStrategy is not ("kNextPowerOfTwo" or "kSameAsRequested"))
            throw new InvalidOperationException($"Engine:OnnxRuntime:Cuda:ArenaExtendStrategy must be kNextPowerOfTwo or kSameAsRequested, not '{cuda.ArenaExtendStrategy}'");
        if (cuda.CudnnConvAlgoSearch is not ("EXHAUSTIVE" or "HEURISTIC" or "DEFAULT"))
            throw new InvalidOperationException($"Engine:OnnxRuntime:Cuda:CudnnConvAlgoSearch must be EXHAUSTIVE, HEURISTIC or DEFAULT, not '{cuda.CudnnConvAlgoSearch}'");
        var settings = new Dictionary<string, string>
        {
            ["device_id"] = _options.CudaDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["arena_extend_strategy"] = cuda.ArenaExtendStrategy,
            ["cudnn_conv_algo_search"] = cuda.CudnnConvAlgoSearch,
            ["do_copy_in_default_stream"] = "1",
        };
        if (cuda.GpuMemoryLimitBytes > 0)
            settings["gpu_mem_limit"] = cuda.GpuMemoryLimitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    /// <summary>The TensorRT provider's option strings.</summary>
    public Dictionary<string, string> TensorRtSettings()
    {
        var trt = _options.OnnxRuntime.TensorRt;
        var settings = new Dictionary<string, string>
        {
            ["device_id"] = _options.CudaDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = trt.Fp16 ? "1" : "0",
        };
        if (!string.IsNullOrEmpty(trt.EngineCachePath))
        {
            settings["trt_engine_cache_enable"] = "1";
            settings["trt_engine_cache_path"] = trt.EngineCachePath;
        }
        return settings;
    }

    private static GraphOptimizationLevel ParseLevel(string level) => level.Trim().ToLowerInvariant() switch
    {
        "disabled" => GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all" => GraphOptimizationLevel.ORT_ENABLE_ALL,
        _ => throw new InvalidOperationException($"Engine:OnnxRuntime:GraphOptimizationLevel must be disabled, basic, extended or all, not '{level}'"),
    };

    /// <summary>
    /// The optimised file's name key: the model's content, and what ONNX Runtime's
    /// optimisations depend on besides (its version, the provider, the level, and the CPU:
    /// the "all" level's blocked layouts take the block size of the CPU's widest vectors, so
    /// a cache on a volume that nodes of several CPU kinds share keeps a file per kind).
    /// </summary>
    internal string CacheKey(string modelPath, string provider)
    {
        using var stream = File.OpenRead(modelPath);
        var hash = Convert.ToHexString(SHA256.HashData(stream))[..16];
        var ort = _options.OnnxRuntime;
        var salt = $"{OrtEnv.Instance().GetVersionString()}|{provider}|{ort.GraphOptimizationLevel}|{CpuKind()}";
        var saltHash = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(salt)))[..8];
        return $"{hash}-{saltHash}".ToLowerInvariant();
    }

    /// <summary>The CPU's architecture and widest vector instructions, as the optimised layouts depend on them.</summary>
    internal static string CpuKind()
    {
        var vectors = Avx512F.IsSupported ? "avx512" : Avx2.IsSupported ? "avx2" : Avx.IsSupported ? "avx" : AdvSimd.IsSupported ? "neon" : "none";
        return $"{RuntimeInformation.ProcessArchitecture}-{vectors}".ToLowerInvariant();
    }

    private static string DisplayName(string provider) => provider switch
    {
        "cuda" => "CUDA",
        "tensorrt" => "TensorRT",
        _ => "CPU",
    };

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
