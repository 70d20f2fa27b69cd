using Google.Protobuf;
using SineGrpc.Client.Masks;
using SineGrpc.Client.Png;
using Sine.V1;

namespace SineGrpc.Client.Segmenting;

/// <summary>A Segment reply's masks as the PNG files <c>sine segment</c> writes, in the DAVIS palette.</summary>
internal sealed record SegmentResult(IReadOnlyList<(string Name, byte[] Png)> Files)
{
    public const string ObjectsFile = "objects.png";
    public const string SemanticFile = "semantic.png";
    public const string InstanceFilePattern = "instance-*.png";

    /// <summary>The file of the instance at <paramref name="rank"/> (1 = best), or null for one whose label no 8-bit PNG holds.</summary>
    public static string? InstanceFile(int rank, Instance instance) =>
        instance.Label is 0 or > IndexMaskComposer.MaxObjectId ? null : $"instance-{rank:D3}.png";

    /// <summary>
    /// objects.png and semantic.png (where masks overlap, the higher score wins), then one file per
    /// instance whose pixels are its label. <paramref name="idTooLarge"/> hears of ids left out.
    /// </summary>
    public static SegmentResult From(SegmentResponse reply, Action<uint> idTooLarge)
    {
        var files = new List<(string, byte[])>
        {
            (ObjectsFile, Png(ReplyMasks.ToIndexMask(reply.IndexMask, reply.Width, reply.Height, reply.Objects, idTooLarge))),
            (SemanticFile, Png(ReplyMasks.ToIndexMask(ByteString.Empty, reply.Width, reply.Height, reply.Semantic, idTooLarge))),
        };
        for (var k = 0; k < reply.Instances.Count; k++)
        {
            var instance = reply.Instances[k];
            if (InstanceFile(k + 1, instance) is not { } name)
            {
                idTooLarge(instance.Label);
                continue;
            }
            var mask = ReplyMasks.Decode(instance.Mask, reply.Width, reply.Height, $"instance {k + 1}");
            var label = (byte)instance.Label;
            var pixels = new byte[mask.Pixels.Length];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = mask.Pixels[i] != 0 ? label : (byte)0;
            }
            files.Add((name, Png(new IndexMask(mask.Width, mask.Height, pixels))));
        }
        return new SegmentResult(files);
    }

    private static byte[] Png(IndexMask mask) => PalettePngWriter.Encode(mask.Width, mask.Height, mask.Pixels, DavisPalette.Colors);
}
