using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Eval;

/// <summary>One sequence of a DAVIS-layout folder: its frame folder and its annotation files.</summary>
internal sealed record DavisSequence(string Name, string FramesFolder, IReadOnlyList<string> Annotations)
{
    /// <summary>The first frame's annotation: the prompt.</summary>
    public string FirstAnnotation => Annotations[0];
}

/// <summary>
/// A DAVIS-layout folder: <c>JPEGImages/&lt;resolution&gt;/&lt;seq&gt;/*.jpg</c> and
/// <c>Annotations/&lt;resolution&gt;/&lt;seq&gt;/*.png</c>, sequences sorted by name.
/// </summary>
internal static class DavisDataset
{
    public static IReadOnlyList<DavisSequence> Open(string root, string resolution, IReadOnlyCollection<string>? only)
    {
        var images = Path.Combine(root, "JPEGImages", resolution);
        var annotations = Path.Combine(root, "Annotations", resolution);
        if (!Directory.Exists(images) || !Directory.Exists(annotations))
        {
            throw new CliException($"{root} is not a DAVIS-layout folder: it needs JPEGImages/{resolution}/<sequence> and Annotations/{resolution}/<sequence>");
        }

        var names = Directory.EnumerateDirectories(images).Select(Path.GetFileName).OfType<string>()
            .Where(name => !name.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        if (only is { Count: > 0 })
        {
            var missing = only.Where(name => !names.Contains(name, StringComparer.Ordinal)).ToList();
            if (missing.Count > 0)
            {
                throw new CliException($"no such sequence in {images}: {string.Join(", ", missing)}");
            }
            names = [.. names.Where(only.Contains)];
        }
        if (names.Count == 0)
        {
            throw new CliException($"no sequences in {images}");
        }

        var sequences = new List<DavisSequence>();
        foreach (var name in names)
        {
            var folder = Path.Combine(annotations, name);
            var masks = Directory.Exists(folder)
                ? Directory.EnumerateFiles(folder, "*.png").Where(p => !Path.GetFileName(p).StartsWith('.')).Order(StringComparer.Ordinal).ToList()
                : [];
            if (masks.Count == 0)
            {
                throw new CliException($"sequence {name} has no annotations in {folder}");
            }
            var frames = FrameFolder.ListFrames(Path.Combine(images, name));
            if (FrameFolder.FrameName(frames[0]) != FrameFolder.FrameName(masks[0]))
            {
                throw new CliException($"sequence {name}: the first annotation {Path.GetFileName(masks[0])} is not for the first frame {Path.GetFileName(frames[0])}");
            }
            sequences.Add(new DavisSequence(name, Path.Combine(images, name), masks));
        }
        return sequences;
    }
}

/// <summary>
/// Reads annotations as the toolkit does. Pixel values are object ids; 255 is "void" and
/// counts as background (the semi-supervised toolkit passes no void mask to its measures),
/// except in binary masks whose only values are 0 and 255 (DAVIS 2016), where it is object 1.
/// The objects of a sequence are 1..(largest id in the first frame). For binary sequences
/// the toolkit's DAVIS 2016 mode applies to the results too: any non-zero pixel is the object.
/// </summary>
internal sealed class AnnotationReader
{
    private const ushort Void = 255;
    private readonly bool _binary;

    public AnnotationReader(LabelImage first)
    {
        var values = first.Values;
        _binary = values.Contains(Void) && values.All(v => v is 0 or Void);
        ObjectCount = _binary ? 1 : values.Where(v => v != Void).DefaultIfEmpty((ushort)0).Max();
    }

    public int ObjectCount { get; }

    /// <summary>A single-object sequence annotated 0/255.</summary>
    public bool IsBinary => _binary;

    /// <summary>Object ids per pixel (0 = background), void removed.</summary>
    public byte[] Ids(LabelImage image)
    {
        var ids = new byte[image.Values.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var v = image.Values[i];
            ids[i] = _binary ? (v != 0 ? (byte)1 : (byte)0) : v == Void || v > byte.MaxValue ? (byte)0 : (byte)v;
        }
        return ids;
    }
}
