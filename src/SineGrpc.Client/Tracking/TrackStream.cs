using System.Runtime.ExceptionServices;
using Grpc.Core;
using SineGrpc.Client.Frames;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>Handles each Track reply, in frame order.</summary>
internal interface ITrackReplyHandler
{
    Task HandleAsync(PendingFrame frame, TrackResponse reply, CancellationToken cancellationToken);
}

/// <summary>
/// One Track call: sends the start message and the frames while a reader task takes the replies,
/// so the server always has frames queued, with at most <see cref="MaxFramesInFlight"/> unanswered.
/// Frames the call leaves unanswered go back to <see cref="TrackFrames"/>, for a stream that may follow.
/// </summary>
/// <param name="pacer">Holds each new frame back until it is due (--fps); null sends frames as fast as the server takes them.</param>
internal sealed class TrackStream(Segmentation.SegmentationClient client, TrackStart start, ITrackReplyHandler handler, FramePacer? pacer = null)
{
    public const int MaxFramesInFlight = 8;

    public async Task RunAsync(TrackFrames frames, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var call = client.Track(cancellationToken: cts.Token);
        using var inFlight = new InFlightFrames(MaxFramesInFlight);
        try
        {
            await RunCallAsync(call, frames, inFlight, cts);
        }
        finally
        {
            frames.Unanswered(inFlight.TakeUnanswered());
        }
    }

    private async Task RunCallAsync(
        AsyncDuplexStreamingCall<TrackRequest, TrackResponse> call, TrackFrames frames, InFlightFrames inFlight, CancellationTokenSource cts)
    {
        // The reader starts first: if the server is unreachable or refuses the stream, it is the one
        // that sees the call's status.
        var reader = Task.Run(() => ReceiveAsync(call.ResponseStream, frames, inFlight, cts), CancellationToken.None);

        Exception? sendError = null;
        try
        {
            await SendAsync(call.RequestStream, frames, inFlight, cts.Token);
        }
        catch (Exception ex)
        {
            sendError = ex;
            // grpc-dotnet refuses writes once the server has ended the call ("the call is
            // complete"); the reader then takes the replies the server sent before it ended and
            // then gets its status, which explains the refusal and decides whether the track
            // resumes: cancelling would drop both. Otherwise the failure is the sender's own (a
            // frame that could not be read): end the call, so the reader stops too.
            if (!IsOver(call))
            {
                await cts.CancelAsync();
            }
        }

        try
        {
            await reader;
        }
        catch (Exception readError) when (sendError is not null && IsCancellation(readError))
        {
            // The reader only stopped because sending failed: the send error is the one to report.
            ExceptionDispatchInfo.Throw(sendError);
        }
        // Any other reader error (usually the server's status) explains a send failure better than the
        // send failure itself, which is then just "the call is over"; so it propagates from `await reader`.

        if (sendError is not null)
        {
            ExceptionDispatchInfo.Throw(sendError);
        }
    }

    private async Task SendAsync(
        IClientStreamWriter<TrackRequest> requests, TrackFrames frames, InFlightFrames inFlight, CancellationToken cancellationToken)
    {
        await requests.WriteAsync(new TrackRequest { Start = start }, cancellationToken);

        while (true)
        {
            // A frame is taken only with a slot for it, and recorded before it is written, so that
            // one this call does not answer always goes back to `frames`.
            await inFlight.WaitForSlotAsync(cancellationToken);
            if (!frames.TryNext(out var frame))
            {
                inFlight.ReturnSlot();
                break;
            }
            inFlight.Add(frame);
            if (pacer is not null && !frame.IsReplay)
            {
                await pacer.WaitAsync(frame.Index, cancellationToken);
            }
            await requests.WriteAsync(new TrackRequest { Frame = frame.Request }, cancellationToken);
        }

        inFlight.MarkAllSent();
        await requests.CompleteAsync();
    }

    private async Task ReceiveAsync(IAsyncStreamReader<TrackResponse> replies, TrackFrames frames, InFlightFrames inFlight, CancellationTokenSource cts)
    {
        try
        {
            while (await replies.MoveNext(cts.Token))
            {
                var reply = replies.Current;
                if (!inFlight.TryTakeOldest(out var frame))
                {
                    throw new TrackProtocolException($"the server answered frame {reply.FrameIndex}, which is not waiting for an answer");
                }
                try
                {
                    if (reply.FrameIndex != frame.Index)
                    {
                        throw new TrackProtocolException(
                            $"the server answered frame {reply.FrameIndex} where frame {frame.Index} was due (replies must come in frame order)");
                    }
                    if (!frame.IsReplay)
                    {
                        await handler.HandleAsync(frame, reply, cts.Token);
                        frames.Answered(frame, reply);
                    }
                }
                finally
                {
                    inFlight.Release(frame);
                }
            }

            if (!inFlight.AllSent || !inFlight.IsEmpty)
            {
                throw new TrackProtocolException("the server ended the stream before answering every frame");
            }
        }
        catch
        {
            // Unblocks the sender, which may be waiting for a slot that will never free up.
            await cts.CancelAsync();
            throw;
        }
    }

    private static bool IsOver(AsyncDuplexStreamingCall<TrackRequest, TrackResponse> call)
    {
        try
        {
            call.GetStatus();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false; // grpc-dotnet: no status while the call runs
        }
    }

    private static bool IsCancellation(Exception ex) =>
        ex is OperationCanceledException || ex is RpcException { StatusCode: StatusCode.Cancelled };
}
