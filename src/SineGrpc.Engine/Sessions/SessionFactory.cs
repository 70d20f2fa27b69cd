using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// Creates ONNX Runtime sessions on the configured device. With Device = "auto" a
/// session that cannot get the CUDA provider (no driver, no CUDA 13 / cuDNN 9) falls
/// back to CPU, and says so once in the log.
/// </summary>
public sealed class SessionFactory(IOptions<EngineOptions> options, ILogger<SessionFactory> logger)
{
    private readonly EngineOptions _options = options.Value;
    // Once CUDA has failed to load it will not load for the next component either:
    // remember, so the log says it once and later sessions go straight to CPU.
    private volatile bool _cudaUnavailable;

    public OnnxComponent Create(string name, string modelPath)
    {
        var device = _options.Device.Trim().ToLowerInvariant();
        if (device is not ("auto" or "cuda" or "cpu"))
            throw new InvalidOperationException($"Engine:Device must be auto, cuda or cpu, not '{_options.Device}'");

        if (device == "cuda" || (device == "auto" && !_cudaUnavailable))
        {
            SessionOptions? cudaOptions = null;
            try
            {
                cudaOptions = CreateOptions();
                cudaOptions.AppendExecutionProvider_CUDA(_options.CudaDeviceId);
                var session = new InferenceSession(modelPath, cudaOptions);
                return new OnnxComponent(name, session, "CUDA");
            }
            catch (OnnxRuntimeException e) when (device == "auto")
            {
                _cudaUnavailable = true;
                logger.LogWarning("CUDA execution provider unavailable, running on CPU: {Reason}", FirstLine(e.Message));
            }
            finally
            {
                cudaOptions?.Dispose();
            }
        }

        using var cpuOptions = CreateOptions();
        return new OnnxComponent(name, new InferenceSession(modelPath, cpuOptions), "CPU");
    }

    private SessionOptions CreateOptions()
    {
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (_options.IntraOpThreads > 0)
            sessionOptions.IntraOpNumThreads = _options.IntraOpThreads;
        return sessionOptions;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
