using Google.Protobuf;
using SineGrpc.Client.Cli;
using SineGrpc.Client.Masks;
using Sine.V1;

namespace SineGrpc.Client.Segmenting;

/// <summary><c>sine segment</c>: one Segment call; its masks written as PNGs and summarised on stdout.</summary>
internal sealed class SegmentCommand(SegmentOptions options, TextWriter stdout, TextWriter stderr)
{
    public async Task<int> RunAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var request = BuildRequest();
        var reply = await client.SegmentAsync(request, cancellationToken: cancellationToken);
        SegmentResult result;
        try
        {
            result = SegmentResult.From(reply, WarnOncePerId());
        }
        catch (InvalidDataException ex)
        {
            throw new CliException($"the server's Segment reply is bad: {ex.Message}");
        }

        Directory.CreateDirectory(options.Output);
        // Instances of an earlier run would pass for this one's.
        foreach (var stale in Directory.EnumerateFiles(options.Output, SegmentResult.InstanceFilePattern))
        {
            File.Delete(stale);
        }
        foreach (var (name, png) in result.Files)
        {
            await File.WriteAllBytesAsync(Path.Combine(options.Output, name), png, cancellationToken);
        }
        stdout.Write(SegmentSummary.Format(reply, options.Threshold));
        stdout.WriteLine(
            $"wrote {string.Join(", ", result.Files.Take(2).Select(f => f.Name))} and {result.Files.Count - 2} instance masks to {options.Output} " +
            $"(server: {reply.Timings?.TotalMs ?? 0:F0} ms)");
        return ExitCodes.Success;
    }

    private SegmentRequest BuildRequest()
    {
        var request = new SegmentRequest
        {
            Model = options.Model ?? "",
            Target = EncodedImage(options.Target, "target"),
            InstanceScoreThreshold = options.Threshold,
            MaxInstances = (uint)(options.MaxInstanceCount ?? 0),
        };
        foreach (var reference in options.References)
        {
            // FromFile refuses, as it reads the mask, ids that no 8-bit output PNG holds.
            request.References.Add(new Reference
            {
                Image = EncodedImage(reference.Image, "reference image"),
                Prompts = { MaskPrompts.FromFile(reference.Mask) },
            });
        }
        return request;
    }

    // The file's bytes as they are: the server decodes JPEG, PNG and WebP, and says which file it cannot.
    private static Image EncodedImage(string path, string what)
    {
        try
        {
            return new Image { Encoded = ByteString.CopyFrom(File.ReadAllBytes(path)) };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {what} {path}: {ex.Message}", ex);
        }
    }

    private Action<uint> WarnOncePerId()
    {
        var reported = new HashSet<uint>();
        return id =>
        {
            if (reported.Add(id))
            {
                stderr.WriteLine($"warning: object id {id} does not fit an 8-bit index mask; it is left out of the mask PNGs");
            }
        };
    }
}
