package server

import (
	"github.com/go-chi/chi/v5"
)

// routes mounts /api/v1: the admin calls behind an admin token or an
// admin's sign-in, the reading calls for supervisors too, the agent's own
// calls behind the agent's token or sign-in.
func (s *server) routes(r chi.Router) {
	if s.signins != nil {
		r.Post("/session", s.signIn)
		r.Group(func(r chi.Router) {
			r.Use(s.adminOrAgent)
			r.Delete("/session", s.signOut)
		})
		r.Group(func(r chi.Router) {
			r.Use(s.agent)
			r.Delete("/me/sessions", s.signOutEverywhere)
		})
	}
	r.Group(func(r chi.Router) {
		r.Use(s.adminOrAgent)
		r.Get("/me", s.me)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.agent)
		r.Put("/me/password", s.changePassword)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.supervisor)
		r.Get("/agents", s.listAgents)
		r.Get("/agents/{id}", s.getAgent)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.admin)
		r.Post("/agents", s.createAgent)
		r.Put("/agents/{id}/password", s.resetPassword)
		r.Patch("/agents/{id}", s.updateAgent)
		r.Delete("/agents/{id}", s.deleteAgent)
		r.Post("/agents/{id}/token", s.newToken)
		r.Delete("/agents/{id}/token", s.revokeToken)
		if s.audit != nil {
			r.Get("/audit", s.listAudit)
		}
		if s.userData != nil {
			r.Get("/users/{account}/{openid}/export", s.exportUser)
			r.Delete("/users/{account}/{openid}", s.eraseUser)
		}
		if s.kfAccounts != nil {
			s.kfRoutes(r)
		}
		if s.dead != nil {
			r.Get("/deadletters", s.listDeadLetters)
			r.Post("/deadletters/{id}/retry", s.retryDeadLetter)
			r.Delete("/deadletters/{id}", s.deleteDeadLetter)
		}
	})
	r.Group(func(r chi.Router) {
		r.Use(s.agent)
		r.Put("/agent/status", s.setStatus)
		r.Post("/agent/heartbeat", s.heartbeat)
		r.Get("/agent/sessions", s.mySessions)
		r.Get("/agent/team", s.colleagues)
	})
	if s.desk == nil {
		return
	}
	r.Group(func(r chi.Router) {
		r.Use(s.supervisor)
		r.Get("/queue", s.queue)
		if s.accounts != nil {
			r.Get("/accounts", s.listAccounts)
		}
		r.Get("/sessions", s.listSessions)
		r.Get("/sessions/{id}", s.getSession)
		if s.archive != nil {
			r.Get("/stats", s.stats)
		}
	})
	r.Group(func(r chi.Router) {
		r.Use(s.adminOrAgent)
		r.Get("/sessions/{id}/messages", s.sessionMessages)
		r.Post("/sessions/{id}/messages", s.send)
		r.Post("/sessions/{id}/images", s.sendImage)
		r.Post("/sessions/{id}/transfer", s.transfer)
		r.Post("/sessions/{id}/close", s.closeSession)
		r.Post("/sessions/{id}/typing", s.typing)
		if s.media != nil {
			r.Get("/media/{id}", s.mediaFile)
			r.Get("/media/{id}/info", s.mediaInfo)
		}
		s.deskRoutes(r)
	})
	if s.tools != nil {
		r.Group(func(r chi.Router) {
			r.Use(s.admin)
			r.Post("/canned", s.createCanned)
			r.Put("/canned/{id}", s.updateCanned)
			r.Delete("/canned/{id}", s.deleteCanned)
		})
	}
}
