namespace SineGrpc.Client.Tracking;

/// <summary>
/// Sends frame k no sooner than k / rate seconds after frame 0 went, as a camera delivers
/// frames: a video or folder played as live input. A frame already due (the sender was held
/// back, or it is sent again on a new stream) goes at once.
/// </summary>
internal sealed class FramePacer(double framesPerSecond, TimeProvider time)
{
    private long? _started;

    /// <summary>How long frame <paramref name="frameIndex"/> must still wait; the clock starts at the first call.</summary>
    public TimeSpan DelayBefore(ulong frameIndex)
    {
        var now = time.GetTimestamp();
        _started ??= now;
        var due = TimeSpan.FromSeconds(frameIndex / framesPerSecond);
        var wait = due - time.GetElapsedTime(_started.Value, now);
        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }

    public Task WaitAsync(ulong frameIndex, CancellationToken cancellationToken)
    {
        var wait = DelayBefore(frameIndex);
        return wait == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, cancellationToken);
    }
}
