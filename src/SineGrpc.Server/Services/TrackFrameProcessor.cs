using System.Diagnostics;
using Grpc.Core;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Tracking;
using SineGrpc.Server.Hosting;
using SineGrpc.Server.Mapping;
using SineGrpc.Server.Transport;

namespace SineGrpc.Server.Services;

/// <summary>What every reply of a stream carries, as its start asked.</summary>
internal sealed record TrackReplyOptions(MaskEncoding Encoding, bool ReturnState);

/// <summary>
/// One Track frame, from its message to its reply: read and checked, tracked by the stream's
/// session, answered. Whatever goes wrong with the frame becomes that frame's error reply, so
/// the stream goes on.
/// </summary>
internal sealed class TrackFrameProcessor(ServiceLimits limits, ServiceMetrics metrics, ILogger logger)
{
    public async Task<TrackResponse> ProcessAsync(TrackSession session, StreamImages images, TrackFrame frame, TrackReplyOptions replies,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var frameImage = Decode(frame, images);
            var image = frameImage.Mat;
            var imageDecodeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var prompts = PromptReader.Read(frame.Prompts, image.Width, image.Height, limits.MaxFramePixels,
                new PromptAllowance(limits.MaxObjectsPerStream, limits.MaxMaskPixels));
            var removed = frame.RemoveObjectIds.Select(id => (int)id).ToList();
            var objects = session.ObjectIds.Except(removed).Union(prompts.Select(p => p.ObjectId)).Count();
            ObjectLimit.Check(objects, limits.MaxObjectsPerStream);
            AnswerBudget.Check(session.MaskPlanes(objects), session.Output.Resolve(image.Width, image.Height), limits.MaxMaskPixels, $"the reply to frame {frame.FrameIndex}",
                "ask for fewer objects, the index layout (output.layout) or a smaller output size (output.width, output.height)");

            using var result = await session.ProcessFrameAsync(new FrameInput(image, prompts, removed), cancellationToken);
            var reply = new TrackResponse { FrameIndex = frame.FrameIndex, Width = (uint)result.Width, Height = (uint)result.Height };
            reply.Objects.AddRange(ResultWriter.Objects(result.Objects, result.Width, result.Height, replies.Encoding));
            reply.IndexMask = ResultWriter.IndexMask(result);
            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            reply.Timings = ResultWriter.Timings(result.Times, imageDecodeMs, totalMs);
            metrics.Frame(session.ModelName, result.Times, imageDecodeMs, totalMs);
            if (replies.ReturnState && session.CaptureState() is { } state)
                reply.State = StreamStateCodec.Encode(state);
            // The frame was tracked (its prediction is in memory); only its answer is refused.
            if (ReplySize.Over(reply, limits.MaxMessageBytes) is { } bytes)
                return Failed(frame, StatusCode.ResourceExhausted, ReplySize.Message($"the reply to frame {frame.FrameIndex}", bytes, limits.MaxMessageBytes));
            return reply;
        }
        catch (InvalidInputException e)
        {
            return Failed(frame, StatusCode.InvalidArgument, e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // A bug or a runtime failure on one frame must not cost the client its
            // stream; the frame is answered with INTERNAL and the cause is logged.
            logger.LogError(e, "Frame {Frame} failed", frame.FrameIndex);
            return Failed(frame, StatusCode.Internal, $"internal error while processing the frame: {e.GetType().Name}");
        }
    }

    private FrameImage Decode(TrackFrame frame, StreamImages images)
    {
        try
        {
            return images.Read(frame.Image, $"frame {frame.FrameIndex}", limits.MaxFramePixels);
        }
        finally
        {
            // Decoded or rejected, the frame's bytes are dead: their pooled buffer can carry the next frame.
            FramePayloads.Release(frame);
        }
    }

    private TrackResponse Failed(TrackFrame frame, StatusCode code, string message)
    {
        metrics.Error(code);
        return new TrackResponse
        {
            FrameIndex = frame.FrameIndex,
            Error = new FrameError { Code = (int)code, Status = StatusNames.Of(code), Message = message },
        };
    }
}
