using Microsoft.Extensions.Options;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Bounds the Segment calls at work at once (<see cref="ServiceLimits.MaxConcurrentSegmentCalls"/>)
/// and those waiting for a turn (<see cref="ServiceLimits.MaxQueuedSegmentCalls"/>). A call
/// decodes every reference image and runs the encoder on each, so its memory grows with its
/// references (up to 17 images at the pixel limit); without a bound, a burst of calls could
/// take the memory that open streams need. Calls beyond the bound wait their turn, holding
/// only their request message (up to Limits:MaxMessageBytes), until their deadline or
/// cancellation; when the queue is full too, they are refused at once.
/// </summary>
public sealed class SegmentGate(IOptions<ServiceLimits> limits) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(limits.Value.MaxConcurrentSegmentCalls);
    private readonly int _maxWaiting = limits.Value.MaxQueuedSegmentCalls;
    private int _waiting;

    /// <summary>Calls waiting for a turn now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Waits for a turn; dispose the result when the call's work is done. Null, at once,
    /// when every turn is taken and the queue is full.
    /// </summary>
    public async Task<IDisposable?> TryEnterAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None))
            return new Turn(_slots);
        if (Interlocked.Increment(ref _waiting) > _maxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            return null;
        }
        try
        {
            await _slots.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        return new Turn(_slots);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Turn(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                slots.Release();
        }
    }
}
