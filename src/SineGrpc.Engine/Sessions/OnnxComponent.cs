using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// One ONNX graph of a model (encoder, pool or decoder) as a small pool of ONNX Runtime
/// sessions. A run leases a session; leases bound how many runs each session has in
/// flight, so concurrent streams queue here instead of oversubscribing the device.
/// The component counts its runs so tests and metrics can check what a frame costs.
/// </summary>
public sealed class OnnxComponent : IDisposable
{
    private readonly InferenceSession[] _sessions;
    private readonly ConcurrentQueue<InferenceSession> _idle = new();
    private readonly SemaphoreSlim _leases;
    private readonly RunThreads _runThreads;
    private readonly RunOptions _runOptions = new();
    private readonly EngineMetrics _metrics;
    private long _runs;
    private volatile bool _recordsMetrics = true;

    internal OnnxComponent(string name, string model, InferenceSession[] sessions, string executionProvider, int maxRunsPerSession, EngineMetrics metrics,
        HostMemory? inputMemory = null)
    {
        Name = name;
        Model = model;
        InputMemory = inputMemory ?? HostMemory.Managed;
        _sessions = sessions;
        _metrics = metrics;
        ExecutionProvider = executionProvider;
        var perSession = Math.Max(1, maxRunsPerSession);
        for (var round = 0; round < perSession; round++)
        {
            foreach (var session in sessions)
                _idle.Enqueue(session);
        }
        _leases = new SemaphoreSlim(sessions.Length * perSession);
        _runThreads = new RunThreads(name, sessions.Length * perSession);
        InputNames = sessions[0].InputNames.ToHashSet();
        OutputNames = sessions[0].OutputNames.ToHashSet();
    }

    /// <summary>Component name: "encoder", "pool" or "decoder".</summary>
    public string Name { get; }

    /// <summary>The model the component belongs to (its metrics' "model" tag; empty when built alone).</summary>
    public string Model { get; }

    /// <summary>
    /// Whether runs and queue waits go to <see cref="EngineMetrics"/> (<see cref="Runs"/>
    /// counts every run regardless). Off while the catalog warms the model up, so that the
    /// exported counts are the service's work: one encoder run per frame reads as one.
    /// </summary>
    internal bool RecordsMetrics
    {
        get => _recordsMetrics;
        set => _recordsMetrics = value;
    }

    /// <summary>The execution provider the sessions run on ("CUDA", "TensorRT" or "CPU").</summary>
    public string ExecutionProvider { get; }

    /// <summary>
    /// Where to put the inputs this component reads: page-locked memory on CUDA, pooled
    /// managed arrays otherwise. Inputs built elsewhere work too, only slower to copy.
    /// </summary>
    public HostMemory InputMemory { get; }

    /// <summary>
    /// Where a stream keeps inputs it feeds to many runs (a dense memory's features): the
    /// pinned pool on CUDA, like <see cref="InputMemory"/>; otherwise exact-size native
    /// blocks that go back to the system when the stream ends (<see cref="HostMemory.Native"/>).
    /// </summary>
    public HostMemory StreamInputMemory => InputMemory.IsPinned ? InputMemory : HostMemory.Native;

    /// <summary>Sessions in the pool.</summary>
    public int SessionCount => _sessions.Length;

    public IReadOnlySet<string> InputNames { get; }
    public IReadOnlySet<string> OutputNames { get; }

    /// <summary>How many times the graph has been run since it was loaded.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    public bool HasOutput(string name) => OutputNames.Contains(name);

    /// <summary>Runs the graph; ONNX Runtime allocates the outputs, which the caller disposes.</summary>
    public async Task<IDisposableReadOnlyCollection<OrtValue>> RunAsync(
        IReadOnlyCollection<string> inputNames,
        IReadOnlyCollection<OrtValue> inputs,
        IReadOnlyCollection<string> outputNames,
        CancellationToken cancellationToken = default)
    {
        using var lease = await LeaseAsync(cancellationToken);
        return await lease.RunAsync(inputNames, inputs, outputNames);
    }

    /// <summary>
    /// Runs the graph writing its one output straight into <paramref name="output"/>, a
    /// caller-owned tensor (I/O binding: no output allocation, no copy).
    /// </summary>
    public async Task RunIntoAsync(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, string outputName, OrtValue output,
        CancellationToken cancellationToken = default)
    {
        using var lease = await LeaseAsync(cancellationToken);
        await lease.RunIntoAsync(inputNames, inputs, outputName, output);
    }

    /// <summary>
    /// Waits for a session and holds it until disposed. A caller whose inputs are large
    /// takes the lease before building them, so that only as many input sets exist at once
    /// as runs can be in flight, however many streams are waiting.
    /// </summary>
    /// <remarks>
    /// The wait is asynchronous: a frame queued for a session holds no thread, and the
    /// lease's asynchronous runs block one of the component's own run threads, not the
    /// caller's. Cancelling gives up the place in the queue.
    /// </remarks>
    public async ValueTask<SessionLease> LeaseAsync(CancellationToken cancellationToken = default)
    {
        var waiting = Stopwatch.GetTimestamp();
        await _leases.WaitAsync(cancellationToken);
        if (RecordsMetrics)
            _metrics.Queued(Model, Name, Stopwatch.GetElapsedTime(waiting));
        _idle.TryDequeue(out var session);
        return new SessionLease(this, session!);
    }

    /// <summary>A session of the pool, held for one or more runs.</summary>
    public sealed class SessionLease : IDisposable
    {
        private readonly OnnxComponent _owner;
        private InferenceSession? _session;

        internal SessionLease(OnnxComponent owner, InferenceSession session) => (_owner, _session) = (owner, session);

        private InferenceSession Session => _session ?? throw new ObjectDisposedException(nameof(SessionLease));

        /// <summary>
        /// Runs the graph on one of the component's run threads (see <see cref="RunThreads"/>);
        /// ONNX Runtime allocates the outputs, which the caller disposes.
        /// </summary>
        public Task<IDisposableReadOnlyCollection<OrtValue>> RunAsync(
            IReadOnlyCollection<string> inputNames,
            IReadOnlyCollection<OrtValue> inputs,
            IReadOnlyCollection<string> outputNames) =>
            _owner._runThreads.RunAsync(() => Run(inputNames, inputs, outputNames));

        /// <summary>Runs the graph into a caller-owned output on one of the component's run threads.</summary>
        public Task RunIntoAsync(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, string outputName, OrtValue output) =>
            _owner._runThreads.RunAsync(() =>
            {
                RunInto(inputNames, inputs, outputName, output);
                return true;
            });

        /// <summary>Runs the graph on the calling thread, blocking it (for callers with threads of their own, like the benchmark's baseline).</summary>
        public IDisposableReadOnlyCollection<OrtValue> Run(
            IReadOnlyCollection<string> inputNames,
            IReadOnlyCollection<OrtValue> inputs,
            IReadOnlyCollection<string> outputNames)
        {
            var started = _owner.Started();
            var outputs = Session.Run(_owner._runOptions, inputNames, inputs, outputNames);
            _owner.Computed(started);
            return outputs;
        }

        /// <summary>Runs the graph into a caller-owned output (I/O binding) on the calling thread, blocking it.</summary>
        public void RunInto(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, string outputName, OrtValue output)
        {
            var started = _owner.Started();
            using var binding = Session.CreateIoBinding();
            for (var i = 0; i < inputs.Count; i++)
                binding.BindInput(inputNames[i], inputs[i]);
            binding.BindOutput(outputName, output);
            Session.RunWithBinding(_owner._runOptions, binding);
            _owner.Computed(started);
        }

        public void Dispose()
        {
            var session = Interlocked.Exchange(ref _session, null);
            if (session is null)
                return;
            _owner._idle.Enqueue(session);
            _owner._leases.Release();
        }
    }

    private long Started()
    {
        Interlocked.Increment(ref _runs);
        return Stopwatch.GetTimestamp();
    }

    private void Computed(long started)
    {
        if (RecordsMetrics)
            _metrics.Computed(Model, Name, ExecutionProvider, Stopwatch.GetElapsedTime(started));
    }

    public void Dispose()
    {
        // Runs in flight finish before their sessions go.
        _runThreads.Dispose();
        foreach (var session in _sessions)
            session.Dispose();
        _runOptions.Dispose();
        _leases.Dispose();
        InputMemory.Dispose();
    }
}
