using Microsoft.Extensions.Options;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Graceful drain. On SIGTERM (ApplicationStopping) the server stops taking streams
/// (health turns NOT_SERVING, new streams get UNAVAILABLE) and open streams get the
/// grace period to finish; then <see cref="StreamsEnding"/> fires and they end with
/// UNAVAILABLE. Shutdown waits until the last stream is gone or the grace period is up;
/// a stream that still cannot get its status out a moment later (its client stopped
/// reading) is reset through <see cref="StreamsAborted"/>.
/// </summary>
public sealed class DrainCoordinator : IHostedService
{
    private readonly IHostApplicationLifetime _lifetime;
    private readonly StreamSlots _slots;
    private readonly ILogger<DrainCoordinator> _logger;
    private readonly TimeSpan _grace;
    private readonly CancellationTokenSource _streamsEnding = new();
    private readonly CancellationTokenSource _streamsAborted = new();
    private volatile bool _draining;

    public DrainCoordinator(IHostApplicationLifetime lifetime, StreamSlots slots, IOptions<DrainOptions> options, ILogger<DrainCoordinator> logger)
    {
        _lifetime = lifetime;
        _slots = slots;
        _logger = logger;
        _grace = TimeSpan.FromSeconds(Math.Max(0, options.Value.GracePeriodSeconds));
    }

    public bool IsDraining => _draining;

    /// <summary>Cancelled when the grace period is over: open streams must end now.</summary>
    public CancellationToken StreamsEnding => _streamsEnding.Token;

    /// <summary>
    /// Cancelled when streams ended by <see cref="StreamsEnding"/> have had their moment to
    /// send their status: what is still open now is reset, so shutdown stays bounded.
    /// </summary>
    /// <remarks>
    /// Writes take this token, not <see cref="StreamsEnding"/>: cancelling a gRPC write resets
    /// the HTTP/2 stream, and the client would see CANCELLED instead of the UNAVAILABLE it
    /// can act on.
    /// </remarks>
    public CancellationToken StreamsAborted => _streamsAborted.Token;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _lifetime.ApplicationStopping.Register(BeginDrain);
        return Task.CompletedTask;
    }

    // Runs on ApplicationStopping, before Kestrel stops: blocking here is what keeps open
    // streams alive during the grace period.
    private void BeginDrain()
    {
        _draining = true;
        // A full fence between the flag and the count, as a stream takes its slot (an
        // interlocked increment) before it checks the flag again: one of the two sees the other.
        Interlocked.MemoryBarrier();
        var open = _slots.Open;
        _logger.LogInformation("Draining: {Open} open stream(s), grace period {Grace} s", open, _grace.TotalSeconds);
        var deadline = DateTime.UtcNow + _grace;
        while (_slots.Open > 0 && DateTime.UtcNow < deadline)
            Thread.Sleep(100);
        if (_slots.Open > 0)
        {
            _logger.LogWarning("Grace period over: ending {Open} stream(s) with UNAVAILABLE", _slots.Open);
            _streamsEnding.Cancel();
            // Give the streams a moment to write their final status.
            var flush = DateTime.UtcNow.AddSeconds(2);
            while (_slots.Open > 0 && DateTime.UtcNow < flush)
                Thread.Sleep(50);
        }
        if (_slots.Open > 0)
        {
            _logger.LogWarning("Resetting {Open} stream(s) that could not send their final status", _slots.Open);
            _streamsAborted.Cancel();
        }
        _logger.LogInformation("Drained");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
