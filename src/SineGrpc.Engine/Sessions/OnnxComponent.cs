using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// One ONNX graph of a model (encoder, pool or decoder) loaded into an ONNX Runtime
/// session. ONNX Runtime sessions are safe to run concurrently, so one instance is
/// shared by every stream; it counts its runs so that tests and metrics can check how
/// much work a frame costs.
/// </summary>
public sealed class OnnxComponent : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private long _runs;

    internal OnnxComponent(string name, InferenceSession session, string executionProvider)
    {
        Name = name;
        _session = session;
        ExecutionProvider = executionProvider;
        InputNames = session.InputNames.ToHashSet();
        OutputNames = session.OutputNames.ToHashSet();
    }

    /// <summary>Component name: "encoder", "pool" or "decoder".</summary>
    public string Name { get; }

    /// <summary>The execution provider the session runs on ("CUDA" or "CPU").</summary>
    public string ExecutionProvider { get; }

    public IReadOnlySet<string> InputNames { get; }
    public IReadOnlySet<string> OutputNames { get; }

    /// <summary>How many times the graph has been run since it was loaded.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    public bool HasOutput(string name) => OutputNames.Contains(name);

    /// <summary>Runs the graph. The caller disposes the returned outputs.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(
        IReadOnlyCollection<string> inputNames,
        IReadOnlyCollection<OrtValue> inputs,
        IReadOnlyCollection<string> outputNames)
    {
        Interlocked.Increment(ref _runs);
        return _session.Run(_runOptions, inputNames, inputs, outputNames);
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
