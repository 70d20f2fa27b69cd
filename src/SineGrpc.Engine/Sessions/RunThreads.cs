using System.Collections.Concurrent;

namespace SineGrpc.Engine.Sessions;

/// <summary>
/// Threads that do nothing but ONNX Runtime runs, one per run a component allows in
/// flight. A run blocks its thread for its whole length (a second for the embedded
/// decoder on a CPU). On thread-pool threads, a few concurrent runs hold the threads the
/// server needs to read requests, write replies and continue other frames, and the pool
/// only adds threads slowly when starved; here they block threads of their own instead.
/// </summary>
/// <remarks>
/// Leases bound the runs in flight to the thread count, so a run never waits for a thread.
/// </remarks>
internal sealed class RunThreads : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread[] _threads;
    private bool _disposed;

    public RunThreads(string name, int count)
    {
        _threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            _threads[i] = new Thread(Serve) { IsBackground = true, Name = $"ort-{name}-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs <paramref name="run"/> on one of the threads; the task completes on the thread pool.</summary>
    public Task<T> RunAsync<T>(Func<T> run)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                completion.SetResult(run());
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
        });
        return completion.Task;
    }

    private void Serve()
    {
        foreach (var work in _work.GetConsumingEnumerable())
            work();
    }

    /// <summary>Lets the threads finish the runs already given and end.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _work.CompleteAdding();
        foreach (var thread in _threads)
            thread.Join();
        _work.Dispose();
    }
}
