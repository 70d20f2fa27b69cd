using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class RunThreadsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Runs_block_threads_of_their_own_as_many_at_once_as_there_are_threads()
    {
        using var threads = new RunThreads("test", 3);
        // Each run blocks until all three are running: only three threads at once get past it.
        using var allRunning = new Barrier(3);
        var runs = Enumerable.Range(0, 3).Select(_ => threads.RunAsync(() =>
        {
            var together = allRunning.SignalAndWait(Patience);
            return (together, Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name);
        })).ToArray();

        var results = await Task.WhenAll(runs).WaitAsync(Patience);
        Assert.All(results, r => Assert.True(r.together, "the three runs did not run at the same time"));
        Assert.All(results, r => Assert.False(r.IsThreadPoolThread, "a run blocked a thread-pool thread"));
        Assert.Equal(["ort-test-0", "ort-test-1", "ort-test-2"], results.Select(r => r.Name).Order());
    }

    [Fact]
    public async Task A_failed_run_faults_its_task_and_the_thread_serves_the_next()
    {
        using var threads = new RunThreads("test", 1);
        var failed = threads.RunAsync<int>(() => throw new InvalidOperationException("bad input"));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failed.WaitAsync(Patience));
        Assert.Equal("bad input", error.Message);
        Assert.Equal(42, await threads.RunAsync(() => 42).WaitAsync(Patience));
    }

    [Fact]
    public async Task Dispose_waits_for_the_run_in_flight()
    {
        var threads = new RunThreads("test", 1);
        using var started = new ManualResetEventSlim();
        var finished = false;
        var run = threads.RunAsync(() =>
        {
            started.Set();
            Thread.Sleep(200);
            finished = true;
            return 0;
        });
        Assert.True(started.Wait(Patience));
        threads.Dispose();
        Assert.True(finished, "Dispose returned while a run was still in flight");
        await run;
        Assert.Throws<ObjectDisposedException>(() => { _ = threads.RunAsync(() => 0); });
    }
}
