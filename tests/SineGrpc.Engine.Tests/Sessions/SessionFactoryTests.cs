using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tests.TestModels;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class SessionFactoryTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sine-sessions-").FullName;

    [Fact]
    public void Provider_order_follows_configuration_and_always_ends_with_cpu()
    {
        Assert.Equal(["cuda", "cpu"], Factory(new EngineOptions()).ProviderOrder());
        Assert.Equal(["cpu"], Factory(new EngineOptions { Device = "cpu" }).ProviderOrder());
        var trt = new EngineOptions { OnnxRuntime = { ExecutionProviders = ["tensorrt", "cuda"] } };
        Assert.Equal(["tensorrt", "cuda", "cpu"], Factory(trt).ProviderOrder());
        var cpuFirst = new EngineOptions { Device = "cuda", OnnxRuntime = { ExecutionProviders = ["cpu"] } };
        Assert.Equal(["cuda", "cpu"], Factory(cpuFirst).ProviderOrder());
        Assert.Contains("unknown provider 'rocm'", Assert.Throws<InvalidOperationException>(
            () => Factory(new EngineOptions { OnnxRuntime = { ExecutionProviders = ["rocm"] } }).ProviderOrder()).Message);
        Assert.Contains("auto, cuda or cpu", Assert.Throws<InvalidOperationException>(() => Factory(new EngineOptions { Device = "gpu" }).ProviderOrder()).Message);
    }

    [Fact]
    public void Cuda_and_tensorrt_settings_use_onnx_runtime_names()
    {
        var options = new EngineOptions
        {
            CudaDeviceId = 1,
            OnnxRuntime =
            {
                Cuda = { ArenaExtendStrategy = "kSameAsRequested", CudnnConvAlgoSearch = "HEURISTIC", GpuMemoryLimitBytes = 4L << 30 },
                TensorRt = { Fp16 = true, EngineCachePath = "/cache/trt" },
            },
        };
        var factory = Factory(options);
        Assert.Equal(new Dictionary<string, string>
        {
            ["device_id"] = "1",
            ["arena_extend_strategy"] = "kSameAsRequested",
            ["cudnn_conv_algo_search"] = "HEURISTIC",
            ["do_copy_in_default_stream"] = "1",
            ["gpu_mem_limit"] = "4294967296",
        }, factory.CudaSettings());
        Assert.Equal(new Dictionary<string, string>
        {
            ["device_id"] = "1",
            ["trt_fp16_enable"] = "1",
            ["trt_engine_cache_enable"] = "1",
            ["trt_engine_cache_path"] = "/cache/trt",
        }, factory.TensorRtSettings());
        Assert.Contains("EXHAUSTIVE, HEURISTIC or DEFAULT", Assert.Throws<InvalidOperationException>(
            () => Factory(new EngineOptions { OnnxRuntime = { Cuda = { CudnnConvAlgoSearch = "fast" } } }).CudaSettings()).Message);
    }

    [Fact]
    public void Without_cuda_auto_falls_back_to_cpu_with_one_log_line()
    {
        if (CudaIsUsable())
            Assert.Fail("This test checks the CPU fallback and needs a machine without a usable CUDA 13 / cuDNN 9 (this one has them).");
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var logger = new ListLogger();
        var factory = new SessionFactory(Options.Create(new EngineOptions()), logger);

        using var first = factory.Create("encoder", model);
        using var second = factory.Create("decoder", model);

        Assert.Equal("CPU", first.ExecutionProvider);
        Assert.Equal("CPU", second.ExecutionProvider);
        Assert.False(first.InputMemory.IsPinned);   // pinned host memory is for CUDA sessions only
        var warning = Assert.Single(logger.Messages);
        Assert.Contains("CUDA execution provider unavailable", warning);
    }

    [Fact]
    public void Device_cuda_without_cuda_fails_with_what_is_missing()
    {
        if (CudaIsUsable())
            Assert.Fail("This test needs a machine without a usable CUDA 13 / cuDNN 9.");
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var error = Assert.Throws<InvalidOperationException>(() => Factory(new EngineOptions { Device = "cuda" }).Create("encoder", model));
        Assert.Contains("CUDA 13 and cuDNN 9", error.Message);
    }

    [Fact]
    public void Pool_of_sessions_and_optimised_model_cache_work()
    {
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var cache = Path.Combine(_folder, "optimised");
        var options = new EngineOptions { Device = "cpu", OnnxRuntime = { SessionsPerComponent = 2, OptimizedModelCache = cache, IntraOpThreads = 1 } };

        using (var component = Factory(options).Create("encoder", model))
            Assert.Equal(2, component.SessionCount);
        var cached = Assert.Single(Directory.GetFiles(cache));
        Assert.StartsWith("encoder-", Path.GetFileName(cached));
        using var again = Factory(options).Create("encoder", model);    // loads the cached, optimised file
        Assert.Single(Directory.GetFiles(cache));
    }

    [Fact]
    public void Optimised_models_are_cached_per_provider_and_cpu_kind_and_never_for_tensorrt()
    {
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var factory = Factory(new EngineOptions());

        Assert.NotEqual(factory.CacheKey(model, "cpu"), factory.CacheKey(model, "cuda"));
        Assert.Equal(factory.CacheKey(model, "cpu"), factory.CacheKey(model, "cpu"));
        Assert.Matches("^(x64|x86|arm64|arm)-(avx512|avx2|avx|neon|none)$", SessionFactory.CpuKind());
        Assert.True(SessionFactory.CachesOptimizedModel("cpu"));
        Assert.True(SessionFactory.CachesOptimizedModel("cuda"));
        // ONNX Runtime cannot save a graph holding TensorRT's compiled nodes: asking for the
        // file would fail every TensorRT session and fall back to CUDA.
        Assert.False(SessionFactory.CachesOptimizedModel("tensorrt"));
    }

    private static bool CudaIsUsable() =>
        Environment.GetEnvironmentVariable("LD_LIBRARY_PATH")?.Contains("cuda", StringComparison.OrdinalIgnoreCase) == true
        || File.Exists("/usr/lib/x86_64-linux-gnu/libcublasLt.so.13") || Directory.Exists("/usr/local/cuda-13");

    private static SessionFactory Factory(EngineOptions options) =>
        new(Options.Create(options), NullLogger<SessionFactory>.Instance);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class ListLogger : ILogger<SessionFactory>
    {
        public List<string> Messages { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
                Messages.Add(formatter(state, exception));
        }
    }
}
