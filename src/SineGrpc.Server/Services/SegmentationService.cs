using Grpc.Core;
using Microsoft.Extensions.Options;
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
    private readonly TrackFrameProcessor _frames = new(limits.Value, metrics, logger);
    private readonly SegmentCallProcessor _segmentCalls = new(limits.Value, metrics);

    public override Task Track(IAsyncStreamReader<TrackRequest> requestStream, IServerStreamWriter<TrackResponse> responseStream, ServerCallContext context) =>
        RunCallAsync("Track stream", context, () => TrackStream(requestStream, responseStream, context));

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
                "the server is shutting down and its grace period is over: open a new stream (another replica takes it) and send the prompts again, or resume_state from the last reply's state"));
        }
        finally
        {
            metrics.StreamClosed();
        }
    }

    /// <summary>
    /// Runs a call and sees how it ended: logged (and counted, for those ended from outside)
    /// as what it was, and a failure no check foresaw turned into INTERNAL.
    /// </summary>
    private async Task<T> RunCallAsync<T>(string call, ServerCallContext context, Func<Task<T>> run)
    {
        try
        {
            return await run();
        }
        catch (Exception e) when (EndedOutside(e, context) is { } status)
        {
            // Such a call's status is not the service's to send (grpc-dotnet sends the
            // deadline's; a client that is gone hears nothing), but an operator reading the log
            // must still see how it ended (a client that crashed, a proxy or keep-alive timeout
            // closing the connection), and CallErrorCounter must count it as what it was.
            RecordEndedOutside(call, status, e, context);
            throw;
        }
        catch (RpcException e)
        {
            logger.LogInformation("{Call} (peer {Peer}) ended with {Status}: {Detail}", call, context.Peer, e.StatusCode, e.Status.Detail);
            throw;
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException))
        {
            throw Unexpected(call, e, context);
        }
    }

    private Task RunCallAsync(string call, ServerCallContext context, Func<Task> run) =>
        RunCallAsync(call, context, async () =>
        {
            await run();
            return true;
        });

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
        using var session = Invalid(() => OpenSession(start, model));
        var replies = new TrackReplyOptions(start.Output?.MaskEncoding ?? MaskEncoding.Unspecified, start.ReturnState);
        using var images = new StreamImages();
        if (!start.ResumeState.IsEmpty)
            metrics.StreamResumed();
        logger.LogInformation("Track stream started on {Model} (peer {Peer}{Live}{Resumed})", model.Name, context.Peer, start.Live ? ", live" : "",
            start.ResumeState.IsEmpty ? "" : $", resumed after {session.FramesProcessed} frames with {session.ObjectIds.Count} objects");
        if (start.Live)
        {
            await ServeLive(session, images, requestStream, writes, replies, idleLimit, cancellation);
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
                var reply = await Task.Run(() => _frames.ProcessAsync(session, images, frame, replies, cancellation), cancellation);
                await writes.WriteAsync(reply);
            }
        }
        logger.LogInformation("Track stream ended after {Frames} frames", session.FramesProcessed);
    }

    private async Task ServeLive(TrackSession session, StreamImages images, IAsyncStreamReader<TrackRequest> requestStream, ReplyWriter writes,
        TrackReplyOptions replies, TimeSpan idleLimit, CancellationToken cancellation)
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
                    ? await Task.Run(() => _frames.ProcessAsync(session, images, frame, replies, cancellation), cancellation)
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

    /// <summary>A new stream's session, or one that goes on from the state of an earlier stream's reply.</summary>
    private TrackSession OpenSession(TrackStart start, LoadedModel model)
    {
        var output = OptionsReader.Output(start.Output, _limits.MaxFramePixels);
        if ((start.ReturnState || !start.ResumeState.IsEmpty) && !model.HasStreamState)
            throw new InvalidInputException(
                $"model {model.Name} has {model.Manifest.MemoryKind} memory, which has no stream state (return_state, resume_state): only models with token memory (SINE) do");
        if (start.ResumeState.IsEmpty)
            return new TrackSession(model, OptionsReader.Memory(start.Memory, model, catalog.MaxMemoryCapacity), output);
        if (start.Memory is not null)
            throw new InvalidInputException("resume_state carries the stream's memory policy: leave `memory` unset");
        var state = StreamStateCodec.Decode(start.ResumeState, _limits.MaxObjectsPerStream);
        return TrackSession.Resume(model, state, output, catalog.MaxMemoryCapacity);
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

    public override Task<SegmentResponse> Segment(SegmentRequest request, ServerCallContext context) =>
        RunCallAsync("Segment call", context, async () =>
        {
            EnsureAccepting();
            EnsureReady();
            var model = FindModel(request.Model);
            if (request.References.Count > _limits.MaxReferences)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{request.References.Count} references are over the limit of {_limits.MaxReferences}"));
            using var turn = await segmentGate.TryEnterAsync(context.CancellationToken) ?? throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the server is at its limit of {_limits.MaxConcurrentSegmentCalls} Segment calls at work and {_limits.MaxQueuedSegmentCalls} waiting; retry later or use another replica"));
            return await Task.Run(() => _segmentCalls.SegmentAsync(model, request, context.CancellationToken), context.CancellationToken);
        });

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
