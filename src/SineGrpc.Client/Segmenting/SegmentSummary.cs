using System.Globalization;
using System.Text;
using SineGrpc.Client.Models;
using Sine.V1;

namespace SineGrpc.Client.Segmenting;

/// <summary>A Segment reply as text tables: objects, instances and labels with score, area and box.</summary>
internal static class SegmentSummary
{
    public static string Format(SegmentResponse reply, float threshold)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"objects (the reference objects in the target, {reply.Width}x{reply.Height}):");
        text.Append(TextTable.Format(["ID", "SCORE", "AREA", "BOX"],
            reply.Objects.Select(o => Row(o.ObjectId, o.Score, o.Area, o.Box)).ToList()));

        var above = Number(threshold);
        if (reply.Instances.Count == 0)
        {
            text.AppendLine($"instances: none scoring above {above}");
        }
        else
        {
            text.AppendLine($"instances ({reply.Instances.Count} scoring above {above}, best first):");
            text.Append(TextTable.Format(["#", "LABEL", "SCORE", "AREA", "BOX", "FILE"],
                reply.Instances.Select((instance, k) => (IReadOnlyList<string>)
                [
                    (k + 1).ToString(CultureInfo.InvariantCulture),
                    .. Row(instance.Label, instance.Score, instance.Area, instance.Box),
                    SegmentResult.InstanceFile(k + 1, instance) ?? "-",
                ]).ToList()));
        }

        text.AppendLine("semantic (every pixel of each label):");
        text.Append(TextTable.Format(["LABEL", "SCORE", "AREA", "BOX"],
            reply.Semantic.Select(s => Row(s.ObjectId, s.Score, s.Area, s.Box)).ToList()));
        return text.ToString();
    }

    private static IReadOnlyList<string> Row(uint id, float score, ulong area, BoundingBox? box) =>
    [
        id.ToString(CultureInfo.InvariantCulture),
        Number(score),
        area.ToString(CultureInfo.InvariantCulture),
        Box(box),
    ];

    private static string Box(BoundingBox? box) =>
        box is null || box.Width == 0 || box.Height == 0
            ? "-"
            : string.Create(CultureInfo.InvariantCulture, $"{box.X},{box.Y} {box.Width}x{box.Height}");

    private static string Number(float value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
