using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>What happens to each reply: the mask PNG, the overlay frame, the stats and the progress line.</summary>
internal sealed class TrackOutput(string outputFolder, OverlayWriter? overlay, TrackStats stats, ProgressReporter progress)
    : ITrackReplyHandler
{
    private readonly HashSet<uint> _reportedIds = [];

    public async Task HandleAsync(PendingFrame frame, TrackResponse reply, CancellationToken cancellationToken)
    {
        stats.Add(reply);

        IndexMask? mask = null;
        if (reply.Error is { } error)
        {
            if (frame.Request.Prompts.Count > 0)
            {
                // Its prompts' objects were never added (or re-anchored): tracking on would only write masks without them.
                throw new CliException(
                    $"frame {reply.FrameIndex} ({frame.Name}) carries prompts and failed on the server: {error.Status} ({error.Code}): {error.Message}; stopped");
            }
            // The stream goes on; the frame simply gets no mask file.
            progress.WriteLine($"frame {reply.FrameIndex} ({frame.Name}) failed: {error.Status} ({error.Code}): {error.Message}");
        }
        else if (reply.Skipped)
        {
            // Live mode: the server skipped the frame for a newer one; it has no mask (and the overlay shows it bare).
        }
        else
        {
            try
            {
                mask = ReplyMasks.ToIndexMask(reply, WarnOncePerId);
            }
            catch (InvalidDataException ex)
            {
                throw new TrackProtocolException($"the server's reply for frame {reply.FrameIndex} ({frame.Name}) is bad: {ex.Message}");
            }
            var png = PalettePngWriter.Encode(mask.Width, mask.Height, mask.Pixels, DavisPalette.Colors);
            await File.WriteAllBytesAsync(Path.Combine(outputFolder, frame.Name + ".png"), png, cancellationToken);
        }

        if (overlay is not null && frame.Image is not null)
        {
            overlay.Write(frame.Image, mask);
        }
        progress.FrameDone();
    }

    private void WarnOncePerId(uint objectId)
    {
        // Replies are handled one at a time, but keep this safe anyway: it is cheap.
        lock (_reportedIds)
        {
            if (_reportedIds.Add(objectId))
            {
                progress.WriteLine($"warning: object id {objectId} does not fit an 8-bit index mask; it is left out of the mask PNGs");
            }
        }
    }
}
