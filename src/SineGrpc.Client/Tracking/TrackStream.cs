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
/// </summary>
internal sealed class TrackStream(
    Segmentation.SegmentationClient client,
    TrackStart start,
    FrameEncoder encoder,
    PromptPlan prompts,
    ITrackReplyHandler handler,
    bool keepImages)
{
    public const int MaxFramesInFlight = 8;

    public async Task RunAsync(IEnumerable<SourceFrame> frames, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var call = client.Track(cancellationToken: cts.Token);
        using var inFlight = new InFlightFrames(MaxFramesInFlight);

        // The reader starts first: if the server is unreachable or refuses the stream, it is the one
        // that sees the call's status.
        var reader = Task.Run(() => ReceiveAsync(call.ResponseStream, inFlight, cts), CancellationToken.None);

        Exception? sendError = null;
        try
        {
            await SendAsync(call.RequestStream, frames, inFlight, cts.Token);
        }
        catch (Exception ex)
        {
            sendError = ex;
            // Ends the call, so the reader stops too.
            await cts.CancelAsync();
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
        IClientStreamWriter<TrackRequest> requests, IEnumerable<SourceFrame> frames, InFlightFrames inFlight, CancellationToken cancellationToken)
    {
        await requests.WriteAsync(new TrackRequest { Start = start }, cancellationToken);

        ulong index = 0;
        foreach (var frame in frames)
        {
            using (frame)
            {
                await inFlight.WaitForSlotAsync(cancellationToken);
                var request = new TrackRequest
                {
                    Frame = new TrackFrame { FrameIndex = index, Image = encoder.Encode(frame) },
                };
                request.Frame.Prompts.AddRange(prompts.ForFrame(index, frame.Name));
                inFlight.Add(new PendingFrame(index, frame.Name, keepImages ? frame.TakeImage() : null));
                await requests.WriteAsync(request, cancellationToken);
            }
            index++;
        }

        inFlight.MarkAllSent();
        await requests.CompleteAsync();
    }

    private async Task ReceiveAsync(IAsyncStreamReader<TrackResponse> replies, InFlightFrames inFlight, CancellationTokenSource cts)
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
                    await handler.HandleAsync(frame, reply, cts.Token);
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

    private static bool IsCancellation(Exception ex) =>
        ex is OperationCanceledException || ex is RpcException { StatusCode: StatusCode.Cancelled };
}
