using System.Globalization;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>Counts over a Track run's replies, for the summary line.</summary>
internal sealed class TrackStats
{
    private double _serverTotalMs;
    private int _timedReplies;

    public int Frames { get; private set; }

    public int FrameErrors { get; private set; }

    /// <summary>Frames the server skipped as stale (live mode).</summary>
    public int Skipped { get; private set; }

    /// <summary>Mean of the replies' server total_ms, or null when no reply carried timings.</summary>
    public double? MeanServerTotalMs => _timedReplies > 0 ? _serverTotalMs / _timedReplies : null;

    public void Add(TrackResponse reply)
    {
        Frames++;
        if (reply.Error is not null)
        {
            FrameErrors++;
        }
        if (reply.Skipped)
        {
            Skipped++;
        }
        if (reply.Timings is not null)
        {
            _serverTotalMs += reply.Timings.TotalMs;
            _timedReplies++;
        }
    }

    public string FormatSummary(TimeSpan elapsed, bool finished)
    {
        var seconds = elapsed.TotalSeconds;
        var fps = seconds > 0 ? Frames / seconds : 0;
        var server = MeanServerTotalMs is { } ms
            ? string.Create(CultureInfo.InvariantCulture, $"mean server total {ms:F1} ms/frame")
            : "no server timings";
        var errors = FrameErrors == 1 ? "1 frame failed" : $"{FrameErrors} frames failed";
        var skipped = Skipped > 0 ? $", {Skipped} skipped as stale (no mask)" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{(finished ? "Done" : "Stopped")}: {Frames} frames in {seconds:F1} s, {fps:F1} fps, {server}, {errors}{skipped}");
    }
}
