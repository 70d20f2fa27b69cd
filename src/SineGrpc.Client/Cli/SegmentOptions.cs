using System.Globalization;

namespace SineGrpc.Client.Cli;

/// <summary>A reference image and the mask PNG that labels objects on it.</summary>
internal sealed record ReferenceFiles(string Image, string Mask);

/// <summary>The validated options of <c>sine segment</c>.</summary>
internal sealed record SegmentOptions
{
    public static readonly CommandSpec Command = new(
        Name: "segment",
        Usage: "sine segment --reference <image> --mask <png> [--reference <image> --mask <png> ...] --target <image> --output <folder> [options]",
        Description:
            "In-context segmentation of one image: finds in the target the objects that the masks label on the\n" +
            "reference images (the i-th --mask labels the i-th --reference; an object id on several references\n" +
            "is several shots of one object). Writes to <output>, as 8-bit palette PNGs in the DAVIS palette:\n" +
            "  objects.png        the same objects in the target (pixel value = object id)\n" +
            "  semantic.png       every pixel of each label (pixel value = label)\n" +
            "  instance-001.png   each instance found, best first (pixel value = its label); earlier\n" +
            "                     instance-*.png files in <output> are removed\n" +
            "and prints each object's, instance's and label's score, area and bounding box.",
        Options:
        [
            new("reference", "image", "Reference image (JPEG, PNG or WebP); repeat for more references", Repeatable: true),
            new("mask", "png", "Mask of the reference given at the same position: palette PNG of object ids, or\n" +
                "grayscale PNG (a 0/255 mask is object 1); repeat once per --reference", Repeatable: true),
            new("target", "image", "Image to segment (JPEG, PNG or WebP)"),
            new("output", "folder", "Folder for the mask PNGs (created if missing)"),
            ServerAddress.Option,
            new("model", "name", "Model to use (default: the server's default; see 'sine models')"),
            new("threshold", "0-1", $"Only instances scoring above this (default {DefaultThreshold.ToString(CultureInfo.InvariantCulture)}, the server's)"),
            new("max-instances", "n", $"At most n instances, best first (default: as many as the server gives, at most {MaxInstances})"),
        ]);

    public const float DefaultThreshold = 0.5f;

    /// <summary>The most instances the API returns (SINE keeps its 100 best candidates).</summary>
    public const int MaxInstances = 100;

    public required IReadOnlyList<ReferenceFiles> References { get; init; }
    public required string Target { get; init; }
    public required string Output { get; init; }
    public required Uri Server { get; init; }
    public string? Model { get; init; }
    public float Threshold { get; init; } = DefaultThreshold;
    public int? MaxInstanceCount { get; init; }

    /// <summary>Checks the options' syntax and that the files they name exist.</summary>
    public static SegmentOptions FromArguments(ParsedArguments args)
    {
        var images = args.GetAll("reference");
        var masks = args.GetAll("mask");
        if (images.Count == 0)
        {
            throw new UsageException("give at least one reference: --reference <image> --mask <png>");
        }
        if (images.Count != masks.Count)
        {
            throw new UsageException(
                $"{images.Count} --reference and {masks.Count} --mask given: give one --mask per --reference (the i-th mask labels the i-th reference)");
        }
        var target = args.GetRequired("target");
        var output = args.GetRequired("output");
        foreach (var (path, option) in images.Select(i => (i, "--reference")).Concat(masks.Select(m => (m, "--mask"))).Append((target, "--target")))
        {
            RequireFile(path, option);
        }
        if (File.Exists(output))
        {
            throw new UsageException($"--output must be a folder, but {output} is a file");
        }

        return new SegmentOptions
        {
            References = images.Zip(masks, (image, mask) => new ReferenceFiles(image, mask)).ToList(),
            Target = target,
            Output = output,
            Server = ServerAddress.Parse(args),
            Model = args.Get("model"),
            Threshold = ParseThreshold(args.Get("threshold")),
            MaxInstanceCount = args.GetInt("max-instances", 1, MaxInstances),
        };
    }

    private static void RequireFile(string path, string option)
    {
        if (Directory.Exists(path))
        {
            throw new UsageException($"{option} must be a file, but {path} is a folder");
        }
        if (!File.Exists(path))
        {
            throw new UsageException($"{option}: no such file: {path}");
        }
    }

    private static float ParseThreshold(string? text)
    {
        if (text is null)
        {
            return DefaultThreshold;
        }
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value is >= 0 and <= 1))
        {
            throw new UsageException($"--threshold must be a number from 0 to 1, not '{text}'");
        }
        return value;
    }
}
