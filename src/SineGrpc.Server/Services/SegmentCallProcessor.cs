using System.Diagnostics;
using Grpc.Core;
using OpenCvSharp;
using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Tracking;
using SineGrpc.Server.Hosting;
using SineGrpc.Server.Mapping;

namespace SineGrpc.Server.Services;

/// <summary>
/// One Segment call's work, from its request to its response: images and masks read and
/// checked against the limits, the model run, the three outputs answered.
/// </summary>
internal sealed class SegmentCallProcessor(ServiceLimits limits, ServiceMetrics metrics)
{
    public async Task<SegmentResponse> SegmentAsync(LoadedModel model, SegmentRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var images = new List<Mat>();
        try
        {
            var references = new List<ReferenceInput>();
            var allowance = new PromptAllowance(limits.MaxObjectsPerStream, limits.MaxMaskPixels);
            for (var r = 0; r < request.References.Count; r++)
            {
                var image = ImageReader.Read(request.References[r].Image, $"reference {r}", limits.MaxFramePixels);
                images.Add(image);
                references.Add(new ReferenceInput(image, PromptReader.Read(request.References[r].Prompts, image.Width, image.Height, limits.MaxFramePixels, allowance)));
            }
            var labels = references.SelectMany(r => r.Prompts).Select(p => p.ObjectId).Distinct().Count();
            ObjectLimit.Check(labels, limits.MaxObjectsPerStream);
            var target = ImageReader.Read(request.Target, "target", limits.MaxFramePixels);
            images.Add(target);
            var imageDecodeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

            var threshold = request.InstanceScoreThreshold ?? 0.5f;
            var output = OptionsReader.Output(request.Output, limits.MaxFramePixels);
            // The answer: a same-object and a semantic mask per label, then as many instances
            // as asked for (0 = the most there can be) and as the rest of the budget holds.
            var size = output.Resolve(target.Width, target.Height);
            var planes = Segmenter.AnswerPlanes(model, labels);
            AnswerBudget.Check(planes, size, limits.MaxMaskPixels, "the Segment response",
                "ask for fewer labels or a smaller output size (output.width, output.height)");
            var asked = request.MaxInstances == 0 ? Segmenter.InstanceCandidates : (int)Math.Min(request.MaxInstances, int.MaxValue);
            var maxInstances = Math.Min(asked, AnswerBudget.Room(planes, size, limits.MaxMaskPixels));
            using var result = await Segmenter.SegmentAsync(model, new SegmentInput(references, target, output, threshold, maxInstances), cancellationToken);

            var encoding = request.Output?.MaskEncoding ?? MaskEncoding.Unspecified;
            var (width, height) = (result.Objects.Width, result.Objects.Height);
            var response = new SegmentResponse { Width = (uint)width, Height = (uint)height, IndexMask = ResultWriter.IndexMask(result.Objects) };
            response.Objects.AddRange(ResultWriter.Objects(result.Objects.Objects, width, height, encoding));
            response.Instances.AddRange(result.Instances.Select(i => ResultWriter.Instance(i, width, height, encoding)));
            response.Semantic.AddRange(ResultWriter.Objects(result.Semantic, width, height, encoding));
            var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            response.Timings = ResultWriter.Timings(result.Objects.Times, imageDecodeMs, totalMs);
            metrics.Frame(model.Name, result.Objects.Times, imageDecodeMs, totalMs);
            if (ReplySize.Over(response, limits.MaxMessageBytes) is { } bytes)
                throw new RpcException(new Status(StatusCode.ResourceExhausted, ReplySize.Message("the Segment response", bytes, limits.MaxMessageBytes)));
            return response;
        }
        catch (InvalidInputException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        finally
        {
            foreach (var image in images)
                image.Dispose();
        }
    }
}
