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
