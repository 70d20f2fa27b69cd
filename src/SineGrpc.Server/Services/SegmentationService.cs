using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Tracking;
using SineGrpc.Server.Hosting;
using SineGrpc.Server.Mapping;
using SineGrpc.Server.Transport;

namespace SineGrpc.Server.Services;

/// <summary>The public API (sine.v1.Segmentation) over the engine.</summary>
/// <remarks>Bound by <see cref="SegmentationBinder"/>, which reads Track frames into pooled buffers.</remarks>
[BindServiceMethod(typeof(SegmentationBinder), nameof(SegmentationBinder.BindService))]
public sealed class SegmentationService(
    ModelCatalog catalog,
    StreamSlots slots,
    SegmentGate segmentGate,
    DrainCoordinator drain,
    ServiceMetrics metrics,
    IOptions<ServiceLimits> limits,
    ILogger<SegmentationService> logger) : Segmentation.SegmentationBase
{
    private readonly ServiceLimits _limits = limits.Value;

    public override async Task Track(IAsyncStreamReader<TrackRequest> requestStream, IServerStreamWriter<TrackResponse> responseStream, ServerCallContext context)
    {
        try
        {
            await TrackStream(requestStream, responseStream, context);
        }
        catch (Exception e) when (EndedOutside(e, context) is { } status)
        {
            // Such a stream's status is not the service's to send (grpc-dotnet sends the
            // deadline's; a client that is gone hears nothing), but an operator reading the log
            // must still see how it ended (a client that crashed, a proxy or keep-alive timeout
            // closing the connection), and CallErrorCounter must count it as what it was.
            RecordEndedOutside("Track stream", status, e, context);
            throw;
        }
        catch (RpcException e)
        {
            logger.LogInformation("Track stream (peer {Peer}) ended with {Status}: {Detail}", context.Peer, e.StatusCode, e.Status.Detail);
            throw;
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException))
        {
            throw Unexpected("Track stream", e, context);
        }
    }

    private async Task TrackStream(IAsyncStreamReader<TrackRequest> requestStream, IServerStreamWriter<TrackResponse> responseStream, ServerCallContext context)
    {
        EnsureAccepting();
        var slot = slots.TryAcquire() ?? throw new RpcException(new Status(StatusCode.ResourceExhausted,
            $"the server is at its limit of {slots.Capacity} concurrent Track streams; retry later or use another replica"));
        // Held until the response is complete, final status included, not just until this
        // method returns: the drain waits for open slots before the server stops, and a
        // stream ended by the drain must get its UNAVAILABLE out first.
        context.GetHttpContext().Response.RegisterForDispose(slot);
        // Again, now that the slot is held: a drain that began between the first check and
        // the slot counted no slot of this stream's, so it would neither wait for it nor end it.
        EnsureAccepting();
        EnsureReady();
        metrics.StreamOpened();
        try
        {
            await RunStream(requestStream, responseStream, context);
        }
        catch (Exception e) when (EndedByDrain(e) && drain.StreamsEnding.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                "the server is shutting down and its grace period is over: open a new stream (another replica takes it) and send the prompts again"));
        }
        finally
        {
            metrics.StreamClosed();
        }
    }

    // The drain's cancellation surfaces as OperationCanceledException, or, when it reaches a
    // read of the request body as a cancelled read, as grpc-dotnet's INTERNAL "Incoming
    // message cancelled": either way the client must get UNAVAILABLE, which it can act on.
    private static bool EndedByDrain(Exception e) =>
        e is OperationCanceledException or RpcException { StatusCode: StatusCode.Internal or StatusCode.Cancelled };

    /// <summary>
    /// The status of a call ended from outside the service: its deadline passed
    /// (DEADLINE_EXCEEDED, which grpc-dotnet sends), or its client cancelled it or lost its
    /// connection (CANCELLED). Null for a call the service ended itself.
    /// </summary>
    /// <remarks>
    /// Both fire the call's token; a client's cancellation or lost connection may instead
    /// reach a read or write first, as the transport's IOException ("The client reset the
    /// request stream"). The token also fires when the drain resets streams that outlived
    /// their grace period, which the drain logs itself.
    /// </remarks>
    private StatusCode? EndedOutside(Exception e, ServerCallContext context)
    {
        if (drain.StreamsAborted.IsCancellationRequested)
            return null;
        if (context.CancellationToken.IsCancellationRequested && context.Deadline <= DateTime.UtcNow)
            return StatusCode.DeadlineExceeded;
        return context.CancellationToken.IsCancellationRequested || e is IOException ? StatusCode.Cancelled : null;
    }

    /// <summary>
    /// A failure no check foresaw (a bug, a runtime error): logged with its stack
    /// and answered with INTERNAL rather than grpc-dotnet's bare UNKNOWN. Cancellation and
    /// transport errors are left alone: they are how a call ends from outside or by the drain.
    /// </summary>
    private RpcException Unexpected(string call, Exception e, ServerCallContext context)
    {
        logger.LogError(e, "{Call} (peer {Peer}) failed", call, context.Peer);
        return new RpcException(new Status(StatusCode.Internal, $"internal error: {e.GetType().Name}; the server logged it"));
    }

    private void RecordEndedOutside(string call, StatusCode status, Exception e, ServerCallContext context)
    {
        if (context.GetHttpContext().Features.Get<CallEndedOutside>() is { } endedOutside)
            endedOutside.Status = status;
        logger.LogInformation("{Call} (peer {Peer}) ended: {Reason} ({Exception})", call, context.Peer,
            status == StatusCode.DeadlineExceeded ? "its deadline passed" : "the client cancelled it or its connection closed", e.GetType().Name);
    }

    private async Task RunStream(IAsyncStreamReader<TrackRequest> requestStream, IServerStreamWriter<TrackResponse> responseStream, ServerCallContext context)
    {
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsEnding);
        var cancellation = ending.Token;
        // Writes stop only for the client's own cancellation or a reset by the drain (see
        // DrainCoordinator.StreamsAborted): a write cancelled at the end of the grace period
        // would reset the stream instead of ending it with UNAVAILABLE.
        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsAborted);
        var idleLimit = TimeSpan.FromSeconds(_limits.StreamIdleTimeoutSeconds);
        using var writeWait = new IdleTimer(idleLimit, "the client to take its replies", aborted.Token);
        var writes = new ReplyWriter(responseStream, writeWait);
        using var readWait = new IdleTimer(idleLimit, "a message from the client", cancellation);
        Func<CancellationToken, Task<bool>> moveNext = requestStream.MoveNext;
        if (!await readWait.WaitAsync(moveNext))
            return;
        if (requestStream.Current.KindCase != TrackRequest.KindOneofCase.Start)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "the first message of a Track stream must be `start`"));

        var start = requestStream.Current.Start;
        var model = FindModel(start.Model);
        var (policy, output) = Invalid(() => (
            OptionsReader.Memory(start.Memory, model, catalog.MaxMemoryCapacity),
            OptionsReader.Output(start.Output, _limits.MaxFramePixels)));
        var encoding = start.Output?.MaskEncoding ?? MaskEncoding.Unspecified;

        using var session = new TrackSession(model, policy, output);
        using var images = new StreamImages();
        logger.LogInformation("Track stream started on {Model} (peer {Peer}{Live})", model.Name, context.Peer, start.Live ? ", live" : "");
        if (start.Live)
        {
            await ServeLive(session, images, requestStream, writes, encoding, idleLimit, cancellation);
        }
        else
        {
            // One frame at a time: the next is read only when this one is answered, so a
            // fast client is held back by HTTP/2 flow control, not buffered here. The frame's
            // synchronous start (image decode, pre-processing) runs on a pool thread of its
            // own rather than the one that read the request; calling it directly measured no
            // different (bench --streams 4,8 --limit 120 on 2026-11-28: 1.02x and 1.02x the
            // raw rate without, 1.03x and 1.05x with, within this machine's noise).
            while (await readWait.WaitAsync(moveNext))
            {
                var frame = NextFrame(requestStream.Current);
                var reply = await Task.Run(() => ProcessFrameAsync(session, images, frame, encoding, cancellation), cancellation);
                await writes.WriteAsync(reply);
            }
        }
        logger.LogInformation("Track stream ended after {Frames} frames", session.FramesProcessed);
    }

    private async Task ServeLive(TrackSession session, StreamImages images, IAsyncStreamReader<TrackRequest> requestStream, ReplyWriter writes,
        MaskEncoding encoding, TimeSpan idleLimit, CancellationToken cancellation)
    {
        var queue = new LiveFrameQueue(_limits.LiveQueueCapacity);
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var readWait = new IdleTimer(idleLimit, "a message from the client", stopReading.Token);
        Func<CancellationToken, Task<bool>> moveNext = requestStream.MoveNext;
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await readWait.WaitAsync(moveNext))
                    await queue.AddAsync(NextFrame(requestStream.Current), stopReading.Token);
                queue.Complete();
            }
            catch (Exception e)
            {
                queue.Complete(e);
            }
        });

        try
        {
            while (await queue.TakeAsync(cancellation) is { } entry)
            {
                var reply = entry.Frame is { } frame
                    ? await Task.Run(() => ProcessFrameAsync(session, images, frame, encoding, cancellation), cancellation)
                    : Skipped(entry.FrameIndex);
                await writes.WriteAsync(reply);
            }
        }
        finally
        {
            // The reader must not outlive the call (a failed write ends it early): grpc-dotnet
            // does not allow reading a finished call's request stream.
            await stopReading.CancelAsync();
            await reading;
        }
    }

    /// <summary>The stream's replies, each written within the idle limit (and under the token that may cancel it).</summary>
    private readonly record struct ReplyWriter(IServerStreamWriter<TrackResponse> Stream, IdleTimer Wait)
    {
        public Task WriteAsync(TrackResponse reply)
        {
            var stream = Stream;
            return Wait.WaitAsync(token => stream.WriteAsync(reply, token));
        }
    }

    private TrackResponse Skipped(ulong frameIndex)
    {
        metrics.FrameSkipped();
        return new TrackResponse { FrameIndex = frameIndex, Skipped = true };
    }

    private static TrackFrame NextFrame(TrackRequest request) => request.KindCase switch
    {
        TrackRequest.KindOneofCase.Frame => request.Frame,
        TrackRequest.KindOneofCase.Start => throw new RpcException(new Status(StatusCode.FailedPrecondition, "`start` was already sent on this stream: send it once, first")),
        _ => throw new RpcException(new Status(StatusCode.FailedPrecondition, "a Track message must set `start` or `frame`")),
    };

    public override async Task<SegmentResponse> Segment(SegmentRequest request, ServerCallContext context)
    {
        try
        {
            EnsureAccepting();
            EnsureReady();
            var model = FindModel(request.Model);
            if (request.References.Count > _limits.MaxReferences)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{request.References.Count} references are over the limit of {_limits.MaxReferences}"));
            using var turn = await segmentGate.TryEnterAsync(context.CancellationToken) ?? throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the server is at its limit of {_limits.MaxConcurrentSegmentCalls} Segment calls at work and {_limits.MaxQueuedSegmentCalls} waiting; retry later or use another replica"));
            return await Task.Run(() => SegmentImageAsync(model, request, context.CancellationToken), context.CancellationToken);
        }
        catch (Exception e) when (EndedOutside(e, context) is { } status)
        {
            RecordEndedOutside("Segment call", status, e, context);
            throw;
        }
        catch (RpcException e)
        {
            logger.LogInformation("Segment call (peer {Peer}) failed with {Status}: {Detail}", context.Peer, e.StatusCode, e.Status.Detail);
            throw;
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException))
        {
            throw Unexpected("Segment call", e, context);
        }
    }

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        EnsureReady();
        var response = new ListModelsResponse { DefaultModel = catalog.DefaultModelName, Limits = LimitsDescriber.Describe(_limits) };
        response.Models.AddRange(catalog.Models.Select(m => ModelDescriber.Describe(m, catalog.MaxMemoryCapacity)));
        return Task.FromResult(response);
    }

    public override Task<ModelInfo> GetModelInfo(GetModelInfoRequest request, ServerCallContext context)
    {
        EnsureReady();
        return Task.FromResult(ModelDescriber.Describe(FindModel(request.Model), catalog.MaxMemoryCapacity));
    }

    private async Task<TrackResponse> ProcessFrameAsync(TrackSession session, StreamImages images, TrackFrame frame, MaskEncoding encoding,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var frameImage = DecodeFrame(frame, images);
            var image = frameImage.Mat;
            var imageDecodeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var prompts = PromptReader.Read(frame.Prompts, image.Width, image.Height, _limits.MaxFramePixels,
                new PromptAllowance(_limits.MaxObjectsPerStream, _limits.MaxMaskPixels));
            var removed = frame.RemoveObjectIds.Select(id => (int)id).ToList();
            var objects = session.ObjectIds.Except(removed).Union(prompts.Select(p => p.ObjectId)).Count();
            CheckObjectLimit(objects);
            AnswerBudget.Check(objects, session.Output.Resolve(image.Width, image.Height), _limits.MaxMaskPixels, $"the reply to frame {frame.FrameIndex}");

            using var result = await session.ProcessFrameAsync(new FrameInput(image, prompts, removed), cancellationToken);
            var reply = new TrackResponse { FrameIndex = frame.FrameIndex, Width = (uint)result.Width, Height = (uint)result.Height };
            reply.Objects.AddRange(result.Objects.Select(o => ResultWriter.Object(o, result.Width, result.Height, encoding)));
            reply.IndexMask = ResultWriter.IndexMask(result);
            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            reply.Timings = ResultWriter.Timings(result.Times, imageDecodeMs, totalMs);
            metrics.Frame(session.ModelName, result.Times, imageDecodeMs, totalMs);
            // The frame was tracked (its prediction is in memory); only its answer is refused.
            if (ReplySize.Over(reply, _limits.MaxMessageBytes) is { } bytes)
                return FrameFailed(frame, StatusCode.ResourceExhausted, ReplySize.Message($"the reply to frame {frame.FrameIndex}", bytes, _limits.MaxMessageBytes));
            return reply;
        }
        catch (InvalidInputException e)
        {
            return FrameFailed(frame, StatusCode.InvalidArgument, e.Message);
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
            return FrameFailed(frame, StatusCode.Internal, $"internal error while processing the frame: {e.GetType().Name}");
        }
    }

    private FrameImage DecodeFrame(TrackFrame frame, StreamImages images)
    {
        try
        {
            return images.Read(frame.Image, $"frame {frame.FrameIndex}", _limits.MaxFramePixels);
        }
        finally
        {
            // Decoded or rejected, the frame's bytes are dead: their pooled buffer can carry the next frame.
            FramePayloads.Release(frame);
        }
    }

    private async Task<SegmentResponse> SegmentImageAsync(LoadedModel model, SegmentRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var images = new List<Mat>();
        try
        {
            var references = new List<ReferenceInput>();
            var allowance = new PromptAllowance(_limits.MaxObjectsPerStream, _limits.MaxMaskPixels);
            for (var r = 0; r < request.References.Count; r++)
            {
                var image = ImageReader.Read(request.References[r].Image, $"reference {r}", _limits.MaxFramePixels);
                images.Add(image);
                references.Add(new ReferenceInput(image, PromptReader.Read(request.References[r].Prompts, image.Width, image.Height, _limits.MaxFramePixels, allowance)));
            }
            var labels = references.SelectMany(r => r.Prompts).Select(p => p.ObjectId).Distinct().Count();
            CheckObjectLimit(labels);
            var target = ImageReader.Read(request.Target, "target", _limits.MaxFramePixels);
            images.Add(target);
            var imageDecodeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

            var threshold = request.InstanceScoreThreshold ?? 0.5f;
            var output = OptionsReader.Output(request.Output, _limits.MaxFramePixels);
            // The answer: a same-object and a semantic mask per label, then as many instances
            // as asked for (0 = the most there can be) and as the rest of the budget holds.
            var size = output.Resolve(target.Width, target.Height);
            AnswerBudget.Check(2 * labels, size, _limits.MaxMaskPixels, "the Segment response");
            var asked = request.MaxInstances == 0 ? Segmenter.InstanceCandidates : (int)Math.Min(request.MaxInstances, int.MaxValue);
            var maxInstances = Math.Min(asked, AnswerBudget.Room(2 * labels, size, _limits.MaxMaskPixels));
            using var result = await Segmenter.SegmentAsync(model, new SegmentInput(references, target, output, threshold, maxInstances), cancellationToken);

            var encoding = request.Output?.MaskEncoding ?? MaskEncoding.Unspecified;
            var (width, height) = (result.Objects.Width, result.Objects.Height);
            var response = new SegmentResponse { Width = (uint)width, Height = (uint)height, IndexMask = ResultWriter.IndexMask(result.Objects) };
            response.Objects.AddRange(result.Objects.Objects.Select(o => ResultWriter.Object(o, width, height, encoding)));
            response.Instances.AddRange(result.Instances.Select(i => ResultWriter.Instance(i, width, height, encoding)));
            response.Semantic.AddRange(result.Semantic.Select(s => ResultWriter.Object(s, width, height, encoding)));
            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            response.Timings = ResultWriter.Timings(result.Objects.Times, imageDecodeMs, totalMs);
            metrics.Frame(model.Name, result.Objects.Times, imageDecodeMs, totalMs);
            if (ReplySize.Over(response, _limits.MaxMessageBytes) is { } bytes)
                throw new RpcException(new Status(StatusCode.ResourceExhausted, ReplySize.Message("the Segment response", bytes, _limits.MaxMessageBytes)));
            return response;
        }
        catch (InvalidInputException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        finally
        {
            foreach (var image in images)
                image.Dispose();
        }
    }

    private void CheckObjectLimit(int objects)
    {
        if (objects > _limits.MaxObjectsPerStream)
            throw new InvalidInputException($"{objects} objects are over the limit of {_limits.MaxObjectsPerStream} per stream");
    }

    private TrackResponse FrameFailed(TrackFrame frame, StatusCode code, string message)
    {
        metrics.Error(code);
        return new TrackResponse
        {
            FrameIndex = frame.FrameIndex,
            Error = new FrameError { Code = (int)code, Status = StatusNames.Of(code), Message = message },
        };
    }

    private void EnsureAccepting()
    {
        if (drain.IsDraining)
            throw new RpcException(new Status(StatusCode.Unavailable, "the server is shutting down: retry, another replica will take the call"));
    }

    private void EnsureReady()
    {
        if (!catalog.IsReady)
            throw new RpcException(new Status(StatusCode.Unavailable, "models are still loading; wait until grpc.health.v1 reports SERVING"));
    }

    private LoadedModel FindModel(string name) =>
        catalog.Find(name) ?? throw new RpcException(new Status(StatusCode.NotFound,
            $"model '{Shown(name)}' not found; served: {string.Join(", ", catalog.Models.Select(m => m.Name))}"));

    // A client's string goes back in a status header: keep it short and printable.
    private static string Shown(string text)
    {
        const int MaxLength = 64;
        var printable = new string(text.Take(MaxLength).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > MaxLength ? printable + "..." : printable;
    }

    /// <summary>Runs <paramref name="read"/>, turning bad input into INVALID_ARGUMENT for the whole call.</summary>
    private static T Invalid<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidInputException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
    }
}
