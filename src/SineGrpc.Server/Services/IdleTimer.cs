using Grpc.Core;

namespace SineGrpc.Server.Services;

/// <summary>
/// Bounds how long a Track stream waits on its client: for the next message, or for room
/// to write a reply the client is not taking. A stream that waits longer is ended, so that
/// a client that forgot its stream (its connection still alive, so keep-alive pings do not
/// find it) gives back the slot and the memory it holds. The timer runs only during such
/// waits, never while the server itself works on a frame.
/// </summary>
/// <param name="limit">How long one wait may last; zero or less waits for ever.</param>
/// <param name="waitingFor">What the wait is for, for the status message ("a message from the client").</param>
/// <param name="outer">The stream's own cancellation, which ends the wait too.</param>
internal sealed class IdleTimer(TimeSpan limit, string waitingFor, CancellationToken outer) : IDisposable
{
    /// <summary>
    /// The limit's source, kept from wait to wait (a wait a frame) while its timer never
    /// fired. One whose timer fired, even just after its wait ended, is retired: it is
    /// cancelled or about to be, and must cancel no later wait.
    /// </summary>
    private CancellationTokenSource? _source;

    /// <summary>Runs one wait on the client under the limit. Waits on one timer must not overlap.</summary>
    /// <exception cref="RpcException">DEADLINE_EXCEEDED when the limit passed first.</exception>
    public async Task<T> WaitAsync<T>(Func<CancellationToken, Task<T>> wait)
    {
        if (limit <= TimeSpan.Zero)
            return await wait(outer);
        var source = _source ??= CancellationTokenSource.CreateLinkedTokenSource(outer);
        source.CancelAfter(limit);
        try
        {
            return await wait(source.Token);
        }
        // A cancelled read of the request body can surface as grpc-dotnet's own RpcException.
        catch (Exception e) when (e is OperationCanceledException or RpcException && source.IsCancellationRequested && !outer.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"waited {limit.TotalSeconds:0.#} s for {waitingFor} (Limits:StreamIdleTimeoutSeconds): the stream is closed to free " +
                "its place; open a new stream and send the prompts again"));
        }
        finally
        {
            // TryReset stops the timer, and refuses once it has fired or the source is cancelled.
            if (!source.TryReset())
            {
                source.Dispose();
                _source = null;
            }
        }
    }

    public async Task WaitAsync(Func<CancellationToken, Task> wait) =>
        await WaitAsync(async token =>
        {
            await wait(token);
            return true;
        });

    public void Dispose() => _source?.Dispose();
}
