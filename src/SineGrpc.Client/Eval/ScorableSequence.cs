using SineGrpc.Client.Cli;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Eval;

/// <summary>
/// Refuses, before anything is streamed, a sequence that cannot be scored: one that would
/// score NaN (too few annotated frames, no object) or fail only once its masks are written
/// (annotations of different sizes).
/// </summary>
internal static class ScorableSequence
{
    /// <summary>J and F leave out the first and the last annotated frame, so they need one more between them.</summary>
    public const int MinAnnotations = 3;

    public static void Check(DavisSequence sequence)
    {
        if (sequence.Annotations.Count < MinAnnotations)
        {
            throw new CliException(
                $"sequence {sequence.Name} has {sequence.Annotations.Count} annotated frame(s); J and F leave out the first and the last, " +
                $"so scoring needs at least {MinAnnotations} (leave it out with --sequences)");
        }

        // The headers are enough to compare sizes: nothing is decoded.
        var first = PngHeader.ReadFile(sequence.FirstAnnotation);
        foreach (var annotation in sequence.Annotations.Skip(1))
        {
            var header = PngHeader.ReadFile(annotation);
            if (header.Width != first.Width || header.Height != first.Height)
            {
                throw new CliException(
                    $"sequence {sequence.Name}: annotation {Path.GetFileName(annotation)} is {header.Width}x{header.Height}, but the first, " +
                    $"{Path.GetFileName(sequence.FirstAnnotation)}, is {first.Width}x{first.Height}; a sequence's annotations must have one size");
            }
        }

        if (new AnnotationReader(IndexPngReader.Read(sequence.FirstAnnotation)).ObjectCount == 0)
        {
            throw new CliException(
                $"sequence {sequence.Name}: the first annotation, {Path.GetFileName(sequence.FirstAnnotation)}, holds no object, so there is nothing to track or score");
        }
    }
}
