using Grpc.Core;
using Sine.V1;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace SineGrpc.Server.Transport;

/// <summary>
/// Binds <see cref="Services.SegmentationService"/> as the generated code does, but with
/// Track requests read by <see cref="TrackRequestDeserializer"/>. grpc-dotnet finds this
/// class through the service's <see cref="BindServiceMethodAttribute"/>: it takes the
/// attribute nearest to the service type, so this one wins over the generated base's.
/// </summary>
internal static class SegmentationBinder
{
    /// <summary>The service's descriptor: server reflection looks it up on the attribute's type.</summary>
    public static ServiceDescriptor Descriptor => Segmentation.Descriptor;

    /// <summary>
    /// Called by grpc-dotnet through reflection (with a null service: it only collects the
    /// methods). The second parameter must be the generated base type, as grpc-dotnet
    /// matches the service's handlers against the methods that type declares.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Segmentation.SegmentationBase? service) =>
        Segmentation.BindService(new PooledTrackRequestsBinder(binder), service);

    /// <summary>Passes every method on to the real binder, Track with its request marshaller replaced.</summary>
    private sealed class PooledTrackRequestsBinder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            if (method is Method<TrackRequest, TrackResponse> track)
                inner.AddMethod(WithPooledRequests(track), (DuplexStreamingServerMethod<TrackRequest, TrackResponse>?)(object?)handler);
            else
                inner.AddMethod(method, handler);
        }

        private static Method<TrackRequest, TrackResponse> WithPooledRequests(Method<TrackRequest, TrackResponse> track) => new(
            track.Type, track.ServiceName, track.Name,
            new Marshaller<TrackRequest>(track.RequestMarshaller.ContextualSerializer, TrackRequestDeserializer.Deserialize),
            track.ResponseMarshaller);
    }
}
