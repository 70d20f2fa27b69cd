using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using OpenCvSharp;
using Sine.V1;

namespace SineGrpc.Client.Tests.Support;

/// <summary>
/// A stand-in for the server's Track: every prompt adds an object (the given id, or the next free id
/// for an index mask) and every tracked object k is answered with the band of rows [10k, 10k + 20),
/// so neighbours overlap by 10 rows; object k scores 1/k, so the lower id wins the overlap.
/// With start.return_state, each answer carries a state that names the tracked objects, and a
/// stream started with that state as resume_state tracks them from its first frame.
/// </summary>
internal sealed class FakeTracker
{
    private int _received;
    private int _answered;

    public TrackStart? Start { get; private set; }

    public List<TrackFrame> Frames { get; } = [];

    /// <summary>The most frames the server held unanswered at once.</summary>
    public int MaxOutstanding { get; private set; }

    /// <summary>Frame indices answered with a FrameError instead of masks.</summary>
    public HashSet<ulong> FailFrames { get; init; } = [];

    /// <summary>Frame indices answered as skipped (a live stream's stale frames).</summary>
    public HashSet<ulong> SkipFrames { get; init; } = [];

    /// <summary>End the call with UNAVAILABLE, as a draining server does, once this many frames are answered.</summary>
    public int? EndWithUnavailableAfter { get; init; }

    /// <summary>Hold replies until no frame has come for this long (to see how many the client sends ahead).</summary>
    public TimeSpan? HoldRepliesUntilQuiet { get; init; }

    public static byte[] Band(int width, int height, uint objectId)
    {
        var pixels = new byte[width * height];
        var top = (int)objectId * 10;
        for (var y = top; y < Math.Min(top + 20, height); y++)
        {
            Array.Fill(pixels, (byte)1, y * width, width);
        }
        return pixels;
    }

    public async Task Handle(ChannelReader<TrackRequest> requests, ChannelWriter<TrackResponse> replies, CancellationToken cancellationToken)
    {
        var first = await requests.ReadAsync(cancellationToken);
        if (first.KindCase != TrackRequest.KindOneofCase.Start)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "frame before start"));
        }
        Start = first.Start;

        var objects = new SortedSet<uint>(StateObjects(Start.ResumeState));
        var waiting = new Queue<TrackFrame>();
        while (true)
        {
            var next = await ReadNextAsync(requests, waiting.Count > 0 ? HoldRepliesUntilQuiet : null, cancellationToken);
            if (next is { } request)
            {
                if (request.KindCase != TrackRequest.KindOneofCase.Frame)
                {
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, "second start"));
                }
                Frames.Add(request.Frame);
                waiting.Enqueue(request.Frame);
                _received++;
                MaxOutstanding = Math.Max(MaxOutstanding, _received - _answered);
                if (HoldRepliesUntilQuiet is not null)
                {
                    continue;
                }
            }
            else if (waiting.Count == 0)
            {
                return; // the client completed and every frame is answered
            }

            while (waiting.TryDequeue(out var frame))
            {
                await replies.WriteAsync(Answer(frame, objects), cancellationToken);
                _answered++;
                if (_answered == EndWithUnavailableAfter)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "the server is shutting down"));
                }
            }
        }
    }

    /// <summary>The next request; null when the client completed, or when nothing came within <paramref name="quiet"/>.</summary>
    private static async Task<TrackRequest?> ReadNextAsync(ChannelReader<TrackRequest> requests, TimeSpan? quiet, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (quiet is { } q)
        {
            timeout.CancelAfter(q);
        }
        try
        {
            return await requests.WaitToReadAsync(timeout.Token) && requests.TryRead(out var request) ? request : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private TrackResponse Answer(TrackFrame frame, SortedSet<uint> objects)
    {
        if (FailFrames.Contains(frame.FrameIndex))
        {
            return new TrackResponse
            {
                FrameIndex = frame.FrameIndex,
                Error = new FrameError { Code = 3, Status = "INVALID_ARGUMENT", Message = "undecodable image" },
            };
        }

        if (SkipFrames.Contains(frame.FrameIndex))
        {
            return new TrackResponse { FrameIndex = frame.FrameIndex, Skipped = true };
        }

        foreach (var prompt in frame.Prompts)
        {
            objects.Add(prompt.ObjectId != 0 ? prompt.ObjectId : (objects.Count == 0 ? 1 : objects.Max + 1));
        }

        var (width, height) = SizeOf(frame.Image);
        var reply = new TrackResponse
        {
            FrameIndex = frame.FrameIndex,
            Width = (uint)width,
            Height = (uint)height,
            Timings = new StageTimings { TotalMs = 5 },
        };
        if (Start!.ReturnState)
        {
            reply.State = ByteString.CopyFromUtf8($"objects:{string.Join(",", objects)}");
        }
        foreach (var id in objects)
        {
            reply.Objects.Add(new ObjectMask
            {
                ObjectId = id,
                Score = 1f / id,
                Mask = new Mask { Rle = TestRleEncoder.Encode(Band(width, height, id), width, height) },
            });
        }
        return reply;
    }

    private static IEnumerable<uint> StateObjects(ByteString state) =>
        state.IsEmpty ? [] : state.ToStringUtf8()["objects:".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(uint.Parse);

    private static (int Width, int Height) SizeOf(Image image)
    {
        if (image.SourceCase == Image.SourceOneofCase.Raw)
        {
            return ((int)image.Raw.Width, (int)image.Raw.Height);
        }
        using var decoded = Cv2.ImDecode(image.Encoded.ToByteArray(), ImreadModes.Color);
        return (decoded.Cols, decoded.Rows);
    }
}
