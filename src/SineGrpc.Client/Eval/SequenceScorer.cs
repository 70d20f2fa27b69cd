using SineGrpc.Client.Png;

namespace SineGrpc.Client.Eval;

/// <summary>One object's per-frame J and F over the scored frames of its sequence.</summary>
internal sealed record ObjectScores(string Name, IReadOnlyList<double> J, IReadOnlyList<double> F)
{
    public (double Mean, double Recall, double Decay) JStatistics => DavisMetrics.Statistics(J);

    public (double Mean, double Recall, double Decay) FStatistics => DavisMetrics.Statistics(F);
}

/// <summary>A sequence's scores: one entry per object, plus what went wrong reading the results.</summary>
internal sealed record SequenceScores(string Sequence, int ScoredFrames, IReadOnlyList<ObjectScores> Objects, IReadOnlyList<string> Warnings);

/// <summary>
/// Scores a results folder of index PNGs (named like the annotations) against a sequence's
/// annotations, as the toolkit's semi-supervised evaluation does: every annotated frame but
/// the first and the last; object k of the prediction is its pixels of value k.
/// </summary>
internal static class SequenceScorer
{
    public static SequenceScores Score(DavisSequence sequence, string resultsFolder)
    {
        var reader = new AnnotationReader(IndexPngReader.Read(sequence.FirstAnnotation));
        var objects = reader.ObjectCount;
        var j = Enumerable.Range(0, objects).Select(_ => new List<double>()).ToArray();
        var f = Enumerable.Range(0, objects).Select(_ => new List<double>()).ToArray();
        var warnings = new List<string>();
        var missing = 0;
        var extraIds = new SortedSet<int>();

        var scored = sequence.Annotations.Skip(1).SkipLast(1).ToList();
        foreach (var annotation in scored)
        {
            var gtImage = IndexPngReader.Read(annotation);
            var truth = reader.Ids(gtImage);
            var (width, height) = (gtImage.Width, gtImage.Height);

            var resultPath = Path.Combine(resultsFolder, Path.GetFileName(annotation));
            byte[] predicted;
            if (File.Exists(resultPath))
            {
                var result = IndexPngReader.Read(resultPath);
                if (result.Width != width || result.Height != height)
                {
                    throw new InvalidDataException($"{resultPath} is {result.Width}x{result.Height}, its annotation {width}x{height}");
                }
                predicted = new byte[result.Values.Length];
                for (var i = 0; i < predicted.Length; i++)
                {
                    var id = reader.IsBinary && result.Values[i] != 0 ? (ushort)1 : result.Values[i];
                    if (id > objects)
                    {
                        extraIds.Add(id);
                        continue;
                    }
                    predicted[i] = (byte)id;
                }
            }
            else
            {
                // A frame the server failed on has no mask: it scores as an empty prediction.
                missing++;
                predicted = new byte[truth.Length];
            }

            var gtMask = new byte[truth.Length];
            var predMask = new byte[truth.Length];
            for (var k = 1; k <= objects; k++)
            {
                for (var i = 0; i < truth.Length; i++)
                {
                    gtMask[i] = truth[i] == k ? (byte)1 : (byte)0;
                    predMask[i] = predicted[i] == k ? (byte)1 : (byte)0;
                }
                j[k - 1].Add(DavisMetrics.Jaccard(gtMask, predMask));
                f[k - 1].Add(DavisMetrics.BoundaryF(gtMask, predMask, width, height));
            }
        }

        if (missing > 0)
        {
            warnings.Add($"{sequence.Name}: {missing} scored frame(s) have no predicted mask and count as empty");
        }
        if (extraIds.Count > 0)
        {
            warnings.Add($"{sequence.Name}: predicted ids {string.Join(", ", extraIds)} are not among the {objects} annotated object(s) and were ignored");
        }
        var scores = Enumerable.Range(0, objects).Select(k => new ObjectScores($"{sequence.Name}_{k + 1}", j[k], f[k])).ToList();
        return new SequenceScores(sequence.Name, scored.Count, scores, warnings);
    }
}
