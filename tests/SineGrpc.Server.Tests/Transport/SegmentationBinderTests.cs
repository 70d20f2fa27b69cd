using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Server.Transport;
using static SineGrpc.Server.Tests.Transport.TrackRequestWire;

namespace SineGrpc.Server.Tests.Transport;

[Collection(ServerCollection.Name)]
public sealed class SegmentationBinderTests(ServerFixture server)
{
    [Fact]
    public void The_served_Track_method_reads_frames_into_pooled_buffers()
    {
        var methods = server.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method)
            .OfType<IMethod>()
            .Where(m => m.ServiceName == "sine.v1.Segmentation")
            .Distinct()
            .ToList();
        Assert.Equal(["GetModelInfo", "ListModels", "Segment", "Track"], methods.Select(m => m.Name).Order());

        var track = Assert.IsType<Method<TrackRequest, TrackResponse>>(methods.Single(m => m.Name == "Track"));
        var frame = track.RequestMarshaller.ContextualDeserializer(new PayloadContext(Request(EncodedFrame(1)))).Frame;

        Assert.True(FramePayloads.IsPooled(frame));
        FramePayloads.Release(frame);
    }
}
