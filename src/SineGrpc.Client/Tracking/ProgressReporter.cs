using System.Diagnostics;
using System.Globalization;

namespace SineGrpc.Client.Tracking;

/// <summary>
/// Progress on stderr. On a terminal, one status line rewritten in place (carriage return) at most
/// four times a second; when stderr is redirected, a plain line every few seconds instead, so logs
/// stay readable.
/// </summary>
internal sealed class ProgressReporter(TextWriter output, int? totalFrames, bool inPlace)
{
    private static readonly TimeSpan InPlaceInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(5);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private int _done;
    private int _doneAtLastPrint;
    private TimeSpan _lastPrint;
    private int _statusLength;

    public int FramesDone => _done;

    public TimeSpan Elapsed => _clock.Elapsed;

    public void FrameDone()
    {
        lock (_lock)
        {
            _done++;
            var now = _clock.Elapsed;
            var sinceLastPrint = now - _lastPrint;
            if (sinceLastPrint < (inPlace ? InPlaceInterval : LogInterval))
            {
                return;
            }
            var currentFps = (_done - _doneAtLastPrint) / sinceLastPrint.TotalSeconds;
            var averageFps = _done / now.TotalSeconds;
            _doneAtLastPrint = _done;
            _lastPrint = now;

            var status = FormatStatus(_done, totalFrames, currentFps, averageFps);
            if (inPlace)
            {
                // Pad over the previous status, which may have been longer.
                output.Write("\r" + status.PadRight(_statusLength));
                _statusLength = status.Length;
            }
            else
            {
                output.WriteLine(status);
            }
            output.Flush();
        }
    }

    /// <summary>Writes a whole line (a warning, an error, the summary) without garbling the status line.</summary>
    public void WriteLine(string message)
    {
        lock (_lock)
        {
            ClearStatus();
            output.WriteLine(message);
            output.Flush();
        }
    }

    public static string FormatStatus(int done, int? total, double currentFps, double averageFps)
    {
        var frames = total is { } t and > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{done}/{t} frames ({100.0 * done / t:F0}%)")
            : string.Create(CultureInfo.InvariantCulture, $"{done} frames");
        return string.Create(CultureInfo.InvariantCulture, $"{frames}  {currentFps:F1} fps (average {averageFps:F1})");
    }

    private void ClearStatus()
    {
        if (_statusLength > 0)
        {
            output.Write("\r" + new string(' ', _statusLength) + "\r");
            _statusLength = 0;
        }
    }
}
