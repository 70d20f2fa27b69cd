using Microsoft.Extensions.Options;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Bounds the Segment calls at work at once (<see cref="ServiceLimits.MaxConcurrentSegmentCalls"/>).
/// A call decodes every reference image and runs the encoder on each, so its memory grows with
/// its references (up to 17 images at the pixel limit); without a bound, a burst of calls could
/// take the memory that open streams need. Calls beyond the bound wait their turn, holding only
/// their request message, until their deadline or cancellation.
/// </summary>
public sealed class SegmentGate(IOptions<ServiceLimits> limits) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(limits.Value.MaxConcurrentSegmentCalls);

    /// <summary>Waits for a turn; dispose the result when the call's work is done.</summary>
    public async Task<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
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
