using Grpc.Core;
using SineGrpc.Server.Services;

namespace SineGrpc.Server.Tests.Services;

/// <summary>
/// The idle limit applies to each wait on its own. The timer keeps one token source from
/// wait to wait while its timer never fires: a wait's timer must stop with the wait, and one
/// that fired must serve no later wait.
/// </summary>
public class IdleTimerTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(200);

    // A client whose message arrives just as the limit passes: the wait is over, but the
    // timer fires before it is stopped. That must not cancel the stream's next wait (a
    // cancelled source cannot be reset), which would end an active stream with DEADLINE_EXCEEDED.
    [Fact]
    public async Task A_timer_that_fires_after_its_wait_ended_does_not_cancel_the_next_wait()
    {
        using var timer = new IdleTimer(Limit, "a message from the client", CancellationToken.None);

        // The wait ends successfully only after its limit passed (it ignores its token).
        Assert.True(await timer.WaitAsync(async _ =>
        {
            await Task.Delay(Limit * 2);
            return true;
        }));

        var next = await timer.WaitAsync(token =>
        {
            Assert.False(token.IsCancellationRequested);
            return Task.FromResult(7);
        });
        Assert.Equal(7, next);
    }

    [Fact]
    public async Task Waits_under_the_limit_never_add_up_to_it_and_share_one_source()
    {
        // Far above the waits under it: this machine can stall for most of a second.
        var limit = TimeSpan.FromSeconds(2);
        using var timer = new IdleTimer(limit, "a message from the client", CancellationToken.None);
        var tokens = new HashSet<CancellationToken>();

        // 30 waits of a twentieth of the limit: one and a half times the limit in all.
        for (int i = 0; i < 30; i++)
            await timer.WaitAsync(async token =>
            {
                tokens.Add(token);
                await Task.Delay(limit / 20, token);
            });

        Assert.Single(tokens);
    }

    [Fact]
    public async Task After_a_wait_that_ran_out_the_next_wait_has_the_whole_limit()
    {
        using var timer = new IdleTimer(Limit, "a message from the client", CancellationToken.None);
        await Assert.ThrowsAsync<RpcException>(() => timer.WaitAsync(token => Task.Delay(Timeout.Infinite, token)));

        // The source the last wait cancelled must not serve this one: it would end it at once.
        await timer.WaitAsync(token => Task.Delay(Limit / 2, token));
    }

    [Fact]
    public async Task A_wait_longer_than_the_limit_ends_with_deadline_exceeded_and_says_what_it_waited_for()
    {
        using var timer = new IdleTimer(Limit, "a message from the client", CancellationToken.None);

        var error = await Assert.ThrowsAsync<RpcException>(() => timer.WaitAsync(async token =>
        {
            await Task.Delay(Timeout.Infinite, token);
            return true;
        }));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.Contains("waited 0.2 s for a message from the client (Limits:StreamIdleTimeoutSeconds)", error.Status.Detail);
    }

    [Fact]
    public async Task The_streams_own_cancellation_is_not_reported_as_the_idle_limit()
    {
        using var stream = new CancellationTokenSource();
        using var timer = new IdleTimer(TimeSpan.FromMinutes(10), "a message from the client", stream.Token);

        var waiting = timer.WaitAsync(async token =>
        {
            await Task.Delay(Timeout.Infinite, token);
            return true;
        });
        await stream.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }
}
