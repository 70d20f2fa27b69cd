using System.Runtime.ExceptionServices;
using Google.Protobuf;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>Test helpers for driving Track streams and reading masks from replies.</summary>
internal static class TrackClient
{
    public static TrackRequest Start(string model = "", MaskLayout layout = MaskLayout.Unspecified) => new()
    {
        Start = new TrackStart { Model = model, Output = new OutputOptions { Layout = layout } },
    };

    public static TrackRequest Frame(ulong index, byte[] jpeg, params Prompt[] prompts)
    {
        var frame = new TrackFrame { FrameIndex = index, Image = new Image { Encoded = ByteString.CopyFrom(jpeg) } };
        frame.Prompts.AddRange(prompts);
        return new TrackRequest { Frame = frame };
    }

    public static Prompt PngPrompt(uint objectId, byte[] png) => new() { ObjectId = objectId, Mask = new Mask { Png = ByteString.CopyFrom(png) } };

    /// <summary>Object <paramref name="label"/>'s prompt from a synthetic frame's truth (its pixels labelled so), as a PNG mask.</summary>
    public static Prompt TruthPrompt(byte[] truth, byte label) => PngPrompt(label, SyntheticVideo.MaskPng(truth, label));

    /// <summary>
    /// The synthetic clip's first <paramref name="count"/> frames as Track frames, object 1
    /// prompted on frame 0 from its truth; and each frame's truth.
    /// </summary>
    public static (List<TrackRequest> Frames, List<byte[]> Truths) PromptedClip(SyntheticVideo video, int count)
    {
        var frames = new List<TrackRequest>();
        var truths = new List<byte[]>();
        for (var t = 0; t < count; t++)
        {
            var (frame, truth) = video.Render(t);
            using (frame)
            {
                truths.Add(truth);
                frames.Add(Frame((ulong)t, SyntheticVideo.Jpeg(frame), t == 0 ? [TruthPrompt(truth, 1)] : []));
            }
        }
        return (frames, truths);
    }

    /// <summary>Object 1's mean IoU with the truth over the replies after the first (the prompted frame).</summary>
    public static double MeanIoUAfterPrompt(IReadOnlyList<TrackResponse> replies, IReadOnlyList<byte[]> truths) =>
        replies.Skip(1).Select((r, i) => SyntheticVideo.IoU(Decode(r.Objects[0]), truths[i + 1], 1)).Average();

    /// <summary>Sends every request, then reads every reply (one per frame).</summary>
    public static async Task<List<TrackResponse>> RunAsync(Segmentation.SegmentationClient client, IEnumerable<TrackRequest> requests)
    {
        using var call = client.Track(deadline: DateTime.UtcNow.AddMinutes(5));
        var replies = new List<TrackResponse>();
        var reader = Task.Run(async () =>
        {
            await foreach (var reply in call.ResponseStream.ReadAllAsync())
                replies.Add(reply);
        });
        Exception? writeError = null;
        try
        {
            foreach (var request in requests)
                await call.RequestStream.WriteAsync(request);
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The server may end the call (say, on a bad start) while requests are still being
            // written; the write then fails with whatever the transport saw, and the call's
            // own status comes through the reader.
            writeError = e;
        }
        await reader;
        if (writeError is not null)
            ExceptionDispatchInfo.Throw(writeError);
        return replies;
    }

    /// <summary>Decodes an object's RLE mask to row-major bytes (1 = object).</summary>
    public static byte[] Decode(ObjectMask mask)
    {
        var rle = mask.Mask.Rle;
        var pixels = new byte[rle.Height * rle.Width];
        Engine.Masks.CocoRle.Decode(rle.Counts, (int)rle.Height, (int)rle.Width, pixels);
        return pixels;
    }
}
