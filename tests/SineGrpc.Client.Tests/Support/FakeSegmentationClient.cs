using System.Threading.Channels;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Client.Tests.Support;

/// <summary>The server side of a fake Track call: reads the client's requests, writes replies.</summary>
internal delegate Task FakeTrackHandler(ChannelReader<TrackRequest> requests, ChannelWriter<TrackResponse> replies, CancellationToken cancellationToken);

/// <summary>
/// A Segmentation client whose Track calls run <see cref="FakeTrackHandler"/> in memory, with the
/// behaviour of a real call where it matters: a handler that throws ends the call with its status,
/// writes after the end fail while the status is there to get, and cancelling the call makes reads
/// fail with CANCELLED.
/// </summary>
/// <param name="memoryKind">What GetModelInfo says of the model: "dense" (the embedded model) or "tokens" (SINE).</param>
internal sealed class FakeSegmentationClient(FakeTrackHandler handler, string memoryKind = "dense") : Segmentation.SegmentationClient
{
    public Task? ServerTask { get; private set; }

    public override AsyncUnaryCall<ModelInfo> GetModelInfoAsync(GetModelInfoRequest request, CallOptions options) =>
        new(Task.FromResult(new ModelInfo { Name = request.Model == "" ? "fake" : request.Model, MemoryKind = memoryKind }),
            Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });

    public override AsyncDuplexStreamingCall<TrackRequest, TrackResponse> Track(CallOptions options)
    {
        var requests = Channel.CreateUnbounded<TrackRequest>();
        var replies = Channel.CreateUnbounded<TrackResponse>();
        var callToken = options.CancellationToken;
        var final = new TaskCompletionSource<Status>(TaskCreationOptions.RunContinuationsAsynchronously);

        ServerTask = Task.Run(async () =>
        {
            try
            {
                await handler(requests.Reader, replies.Writer, callToken);
                final.SetResult(Status.DefaultSuccess);
                replies.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                var error = ex as RpcException ?? (callToken.IsCancellationRequested
                    ? new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."))
                    : new RpcException(new Status(StatusCode.Unknown, ex.Message)));
                final.SetResult(error.Status);
                replies.Writer.TryComplete(error);
            }
            finally
            {
                // The call is over: later writes fail, as in Grpc.Net.Client.
                requests.Writer.TryComplete();
            }
        });

        return new AsyncDuplexStreamingCall<TrackRequest, TrackResponse>(
            new RequestWriter(requests.Writer, callToken),
            new ReplyReader(replies.Reader, callToken),
            Task.FromResult(new Metadata()),
            // As in Grpc.Net.Client: the status once the call is over, an error before.
            () => final.Task.IsCompleted ? final.Task.Result : throw new InvalidOperationException("Unable to get the status because the call is not complete."),
            () => [],
            () => { });
    }

    private sealed class RequestWriter(ChannelWriter<TrackRequest> writer, CancellationToken callToken) : IClientStreamWriter<TrackRequest>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(TrackRequest message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(TrackRequest message, CancellationToken cancellationToken)
        {
            if (callToken.IsCancellationRequested || cancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
            }
            if (!writer.TryWrite(message))
            {
                throw new InvalidOperationException("Can't write the message because the call is complete.");
            }
            return Task.CompletedTask;
        }

        public Task CompleteAsync()
        {
            writer.TryComplete();
            return Task.CompletedTask;
        }
    }

    private sealed class ReplyReader(ChannelReader<TrackResponse> reader, CancellationToken callToken) : IAsyncStreamReader<TrackResponse>
    {
        public TrackResponse Current { get; private set; } = null!;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, callToken);
            try
            {
                if (!await reader.WaitToReadAsync(linked.Token))
                {
                    return false;
                }
            }
            catch (OperationCanceledException)
            {
                throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
            }
            Current = await reader.ReadAsync(CancellationToken.None);
            return true;
        }
    }
}
