using Microsoft.Extensions.Options;

namespace SineGrpc.Server.Hosting;

/// <summary>Counts open Track streams against <see cref="ServiceLimits.MaxConcurrentStreams"/>.</summary>
public sealed class StreamSlots(IOptions<ServiceLimits> limits)
{
    private int _open;

    public int Open => Volatile.Read(ref _open);

    public int Capacity => limits.Value.MaxConcurrentStreams;

    /// <summary>A slot to dispose when the stream ends, or null when all are taken.</summary>
    public IDisposable? TryAcquire()
    {
        if (Interlocked.Increment(ref _open) <= Capacity)
            return new Slot(this);
        Interlocked.Decrement(ref _open);
        return null;
    }

    private sealed class Slot(StreamSlots owner) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                Interlocked.Decrement(ref owner._open);
        }
    }
}
